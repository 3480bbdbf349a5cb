"""The purge's store registry: a new store is one module in functions/purge/stores/, and the worker,
the dry run, the orphan sweep, the result counts and the generated docs all pick it up."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid

import pytest

from functions.platform.auth import Principal
from functions.platform.settings import load_settings
from functions.purge import registry
from functions.purge import stores as package
from functions.purge.service import CoursePurges
from functions.purge.worker import PurgeWorker
from tests.dev_server import ROOT
from tests.fakes import FakeCourseDirectory, FakePurgeQueue, FakeStep

NOTES = textwrap.dedent('''
    """A store for the test: a course's notes, in a dict."""
    from functions.purge.model import Counts
    from functions.purge.registry import PurgeStore
    from functions.purge.steps import BatchStep

    NOTES = {}

    class NotesStep(BatchStep):
        name = "notes"

        def purge(self, entries):
            return {e.key: len(NOTES.pop(e.key, [])) for e in entries}

        def count(self, entries):
            return {e.key: len(NOTES.get(e.key, [])) for e in entries}

    STORE = PurgeStore(name="notes", count_key="notesDeleted", bytes_key=None, step_order=5, sweep_order=None,
                       description="the test's notes", step=lambda r: NotesStep())
''')


@pytest.fixture
def notes_store(tmp_path):
    (tmp_path / "notes.py").write_text(NOTES)
    package.__path__.append(str(tmp_path))
    registry.stores.cache_clear()
    yield
    package.__path__.remove(str(tmp_path))
    registry.stores.cache_clear()
    sys.modules.pop(f"{package.__name__}.notes", None)


def test_the_committed_table_of_stores_is_the_registrys():
    result = subprocess.run([sys.executable, "-m", "devtools.purge_stores", "--check"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_a_new_store_module_is_purged_counted_and_documented_with_no_other_change(notes_store):
    from devtools import purge_stores

    assert registry.names() == ("qdrant", "redis", "files", "rag", "notes")
    assert registry.result_keys()[-2:] == ("notesDeleted", registry.DATABASE_ROWS)
    assert "`notesDeleted`" in purge_stores.table()
    notes = sys.modules[f"{package.__name__}.notes"].NOTES

    queue = FakePurgeQueue()
    directory = FakeCourseDirectory(queue)
    steps = [store.step(None) if store.name == "notes" else FakeStep(store.name)  # type: ignore[arg-type]
             for store in registry.stores()]
    purges = CoursePurges(directory, queue, lambda: PurgeWorker(queue, steps), lambda: None,  # type: ignore[arg-type]
                          load_settings(), sleep=lambda _s: None)
    cid = directory.add(uuid.uuid4(), uuid.uuid4())
    notes[str(cid)] = ["a", "b", "c"]
    admin = Principal(None, True)
    assert purges.purge(admin, cid, dry_run=True).removed.of("notes").count == 3
    done = purges.purge(admin, cid)
    assert done.status == "purged" and done.removed.of("notes").count == 3 and str(cid) not in notes
    assert registry.result_of(done.removed)["notesDeleted"] == 3
