"""The purge never removes what is not the course's: no link is followed out of a course's folder,
and a Qdrant point that names other courses too keeps its vector for them."""

from __future__ import annotations

import uuid

from qdrant_client import models

from functions.platform.settings import get_settings
from functions.purge_course.app import handler
from tests.conftest import ADMIN_TOKEN, call
from tests.purge_seed import leftovers, seed_course
from tests.storage_fixtures import add_points, count_points, file_storage, qdrant  # noqa: F401 - fixtures


def purge(course_id, **kwargs):
    return call(handler, "DELETE", f"/courses/{course_id}", token=ADMIN_TOKEN, **kwargs)


def test_a_course_folder_that_is_a_link_is_refused_and_reported_never_followed(db, rds, make_user, file_storage,
                                                                                tmp_path):
    owner = make_user()
    seeded = seed_course(db, rds, owner, storage=file_storage)
    folder = file_storage.root / "uploads" / str(owner.org_id) / str(seeded.course_id)
    outside = tmp_path / "someone-elses-files"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep me")
    for child in folder.rglob("*"):
        if child.is_file():
            child.unlink()
    for child in sorted(folder.rglob("*"), reverse=True):
        child.rmdir()
    folder.rmdir()
    folder.symlink_to(outside, target_is_directory=True)

    reply = purge(seeded.course_id)

    assert reply.status == 202, reply
    [failed] = reply.json["failedSteps"]
    assert failed["step"] == "files" and "link" in failed["error"], failed
    assert (outside / "precious.txt").read_text() == "keep me"
    left = leftovers(db, rds, seeded, storage=file_storage)
    assert (left["database"], left["redis"], left["rag"]) == (0, 0, 0)  # the other stores are done


def test_a_link_inside_a_course_folder_is_removed_as_a_link_and_its_target_kept(db, rds, make_user, file_storage,
                                                                                tmp_path):
    owner = make_user()
    seeded = seed_course(db, rds, owner, storage=file_storage)
    folder = file_storage.root / "materials" / str(seeded.course_id)
    outside = tmp_path / "shared-library"
    outside.mkdir()
    (outside / "book.pdf").write_bytes(b"x" * 10)
    (folder / "library").symlink_to(outside, target_is_directory=True)
    (folder / "book-link.pdf").symlink_to(outside / "book.pdf")

    reply = purge(seeded.course_id)

    assert reply.status == 200, reply
    assert not folder.exists()
    assert (outside / "book.pdf").read_bytes() == b"x" * 10
    assert reply.json["result"]["filesDeleted"] == len(seeded.files) + 2


def test_a_point_shared_with_another_course_loses_only_the_purged_course(db, rds, make_user, qdrant):
    owner = make_user()
    doomed = seed_course(db, rds, owner, qdrant=qdrant)
    other = seed_course(db, rds, owner, qdrant=qdrant)
    shared_id = str(uuid.uuid4())
    qdrant.upsert(get_settings().qdrant_collection, wait=True, points=[models.PointStruct(
        id=shared_id, vector=[0.1, 0.2, 0.3, 0.4],
        payload={"course_id": [str(doomed.course_id), str(other.course_id)], "organization_id": str(owner.org_id)})])

    dry = purge(doomed.course_id, query={"dryRun": "true"})
    assert dry.json["result"]["qdrantVectorsDeleted"] == doomed.vectors  # the shared point is not to go
    reply = purge(doomed.course_id)

    assert reply.status == 200 and reply.json["result"]["qdrantVectorsDeleted"] == doomed.vectors
    [point] = qdrant.retrieve(get_settings().qdrant_collection, ids=[shared_id], with_payload=True)
    assert point.payload["course_id"] == [str(other.course_id)]
    assert count_points(qdrant, doomed.course_id) == 0
    assert count_points(qdrant, other.course_id) == other.vectors + 1

    assert purge(other.course_id).json["result"]["qdrantVectorsDeleted"] == other.vectors + 1
    assert qdrant.retrieve(get_settings().qdrant_collection, ids=[shared_id]) == []
