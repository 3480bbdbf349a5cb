"""The purge's files store: uploaded files, behind one small interface: a local directory
(`file://DIR`) or S3 (`s3://BUCKET[/PREFIX]`).

A course owns two prefixes, `uploads/{orgId}/{courseId}/` and `materials/{courseId}/`. The purge
measures and deletes whole prefixes; the orphan sweep lists the course folders under a prefix.
Paths are built only from UUIDs (validated by the callers), so nothing like `..` reaches a path.

boto3 is imported on first use: the draft function never pays for it, the purge only when S3 is
configured. Any S3-compatible endpoint works through S3_ENDPOINT_URL (Supabase Storage, MinIO, moto).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Optional, Protocol

from ...platform.errors import StoreUnavailable
from ...platform.settings import Settings
from ..model import Counts, Deadline, Entry, StepReport, describe
from ..ports import Page
from ..registry import PurgeStore

S3_DELETE_BATCH = 1000  # the most keys one DeleteObjects request takes


class UnsafePath(RuntimeError):
    """A folder the purge will not touch (a link out of the storage root): its step fails, reported."""


class FileStore(Protocol):
    name: str

    def measure(self, prefix: str) -> Counts:
        """What lies under `prefix` (a folder path ending in '/'), without changing anything."""

    def delete_prefix(self, prefix: str) -> Counts:
        """Delete everything under `prefix`; what was deleted. Deleting nothing is fine (idempotent)."""

    def folders(self, prefix: str, *, start_after: Optional[str] = None) -> Iterator[str]:
        """The names of the sub-folders directly under `prefix`, in order, after `start_after`."""


class LocalFiles:
    """A directory on disk (`make dev`, tests): the seed's `uploads/` layout under one root."""

    name = "file"

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def _path(self, prefix: str) -> Path:
        """The folder of a prefix, refused if any part of it is a link: a course's folder that points
        elsewhere (a symlinked uploads/{org}/{course}) must never let a purge delete outside the root."""
        path = self.root
        for part in (p for p in prefix.split("/") if p):
            if part in (".", ".."):
                raise UnsafePath(f"{prefix!r} is not a plain folder path")
            path = path / part
            if path.is_symlink():
                raise UnsafePath(f"{path.relative_to(self.root)} is a link; a purge never follows one")
        return path

    def _walk(self, prefix: str) -> Iterator[tuple[Path, int]]:
        base = self._path(prefix)
        if not base.is_dir():
            return
        for dirpath, dirs, names in os.walk(base, followlinks=False):
            # A link inside the folder is removed as itself (a link to a folder included), never followed.
            for name in names + [d for d in dirs if Path(dirpath, d).is_symlink()]:
                path = Path(dirpath, name)
                try:
                    yield path, path.lstat().st_size  # a symlink counts as itself, never its target
                except FileNotFoundError:
                    continue  # removed meanwhile

    def measure(self, prefix: str) -> Counts:
        total = Counts()
        for _path, size in self._walk(prefix):
            total += Counts(1, size)
        return total

    def delete_prefix(self, prefix: str) -> Counts:
        total = Counts()
        try:
            for path, size in list(self._walk(prefix)):
                try:
                    path.unlink()
                except FileNotFoundError:
                    continue
                total += Counts(1, size)
            base = self._path(prefix)
            if base.is_dir():
                # Empty folders go too, deepest first; a folder that gained a file meanwhile stays.
                for dirpath, _dirs, _names in sorted(os.walk(base), key=lambda w: -len(w[0])):
                    try:
                        os.rmdir(dirpath)
                    except OSError:
                        pass
        except PermissionError as exc:
            raise StoreUnavailable("storage", exc) from None
        return total

    def folders(self, prefix: str, *, start_after: Optional[str] = None) -> Iterator[str]:
        base = self._path(prefix)
        if not base.is_dir():
            return
        names = sorted(e.name for e in os.scandir(base) if e.is_dir(follow_symlinks=False))
        for name in names:
            if start_after is None or name > start_after:
                yield name


class S3Files:
    """A bucket (and optional key prefix) of S3 or any S3-compatible endpoint."""

    name = "s3"

    def __init__(self, bucket: str, base: str = "", *, endpoint_url: Optional[str] = None,
                 timeout: float = 3.0, client: Any = None):
        self.bucket = bucket
        self.base = base.strip("/") + "/" if base.strip("/") else ""
        self._endpoint_url = endpoint_url
        self._timeout = timeout
        self._client = client
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:  # boto3's S3 client (boto3 is untyped)
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import boto3
                    from botocore.config import Config

                    self._client = boto3.client("s3", endpoint_url=self._endpoint_url, config=Config(
                        connect_timeout=self._timeout, read_timeout=max(self._timeout, 10),
                        # total_max_attempts counts the first try; botocore's max_attempts does not
                        # (2 meant 3 tries: a hung S3 held a purge for 3 read timeouts).
                        retries={"total_max_attempts": 2, "mode": "standard"},
                        max_pool_connections=16,
                    ))
        return self._client

    def _errors(self) -> tuple[type[Exception], ...]:
        from botocore.exceptions import BotoCoreError, ClientError

        return BotoCoreError, ClientError

    def _objects(self, prefix: str) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.base + prefix):
            yield from page.get("Contents", ())

    def measure(self, prefix: str) -> Counts:
        try:
            total = Counts()
            for obj in self._objects(prefix):
                total += Counts(1, int(obj.get("Size", 0)))
            return total
        except self._errors() as exc:
            raise StoreUnavailable("storage", exc) from None

    def delete_prefix(self, prefix: str) -> Counts:
        """List page by page and delete each page in one request (at most 1000 keys each)."""
        total = Counts()
        try:
            batch: list[dict[str, Any]] = []
            for obj in self._objects(prefix):
                batch.append(obj)
                if len(batch) == S3_DELETE_BATCH:
                    total += self._delete(batch)
                    batch = []
            if batch:
                total += self._delete(batch)
        except self._errors() as exc:
            raise StoreUnavailable("storage", exc) from None
        return total

    def _delete(self, objects: list[dict[str, Any]]) -> Counts:
        reply = self.client.delete_objects(Bucket=self.bucket, Delete={
            "Objects": [{"Key": o["Key"]} for o in objects], "Quiet": True})
        errors = reply.get("Errors") or []
        if errors:
            first = errors[0]
            raise RuntimeError(f"S3 refused to delete {len(errors)} object(s), e.g. {first.get('Key')}: "
                               f"{first.get('Code')}")
        return Counts(len(objects), sum(int(o.get("Size", 0)) for o in objects))

    def folders(self, prefix: str, *, start_after: Optional[str] = None) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        kwargs = {"Bucket": self.bucket, "Prefix": self.base + prefix, "Delimiter": "/"}
        if start_after:
            # Skip every key of that folder: all sort before its name + '/' + the highest code point.
            kwargs["StartAfter"] = self.base + prefix + start_after + "/\U0010ffff"
        try:
            for page in paginator.paginate(**kwargs):
                for common in page.get("CommonPrefixes", ()):
                    name = common["Prefix"][len(self.base + prefix):].rstrip("/")
                    if name and (start_after is None or name > start_after):
                        yield name
        except self._errors() as exc:
            raise StoreUnavailable("storage", exc) from None


def open_storage(url: str, settings: Settings) -> FileStore:
    if url.startswith("file://"):
        return LocalFiles(url[len("file://"):])
    if url.startswith("s3://"):
        bucket, _, base = url[len("s3://"):].partition("/")
        return S3Files(bucket, base, endpoint_url=settings.s3_endpoint_url, timeout=settings.store_timeout_seconds)
    raise ValueError("STORAGE_URL must be file://DIR or s3://BUCKET[/PREFIX]")


def file_prefixes(course_id: str, organization_id: Optional[str]) -> list[str]:
    """The storage folders a course owns (API.md): uploads by organization, materials by course."""
    prefixes = [f"materials/{course_id}/"]
    if organization_id:
        prefixes.insert(0, f"uploads/{organization_id}/{course_id}/")
    return prefixes


class FileStep:
    name = "files"

    def __init__(self, store: FileStore, *, parallel: int = 4):
        self.store = store
        self.parallel = parallel

    def _one(self, entry: Entry, expired: Deadline, measure_only: bool = False) -> Optional[Counts]:
        if expired():
            return None  # not reached: stays pending without an error
        total = Counts()
        org = str(entry.organization_id) if entry.organization_id else None
        for prefix in file_prefixes(entry.key, org):
            usage = self.store.measure(prefix) if measure_only else self.store.delete_prefix(prefix)
            total += usage
        return total

    def run(self, entries: list[Entry], expired: Deadline) -> StepReport:
        report = StepReport(self.name)
        # Listing is per prefix (no store lists many prefixes at once), so courses go in parallel.
        with ThreadPoolExecutor(max_workers=min(self.parallel, max(1, len(entries)))) as pool:
            futures = {e.key: pool.submit(self._one, e, expired) for e in entries}
        for key, future in futures.items():
            try:
                counts = future.result()
            except Exception as exc:  # one course's failure is its own
                report.failed[key] = describe(exc)
                continue
            if counts is not None:
                report.done[key] = counts
        return report

    def measure(self, entries: list[Entry]) -> dict[str, Counts]:
        return {e.key: self._one(e, lambda: False, measure_only=True) or Counts() for e in entries}


class FilesSource:
    """Course folders under uploads/{orgId}/ (organization by organization), then under materials/."""

    name = "files"

    def __init__(self, store: FileStore):
        self.store = store

    def page(self, position: Any, size: int) -> Page:
        from ..orphans import canonical

        pos = dict(position or {"phase": "uploads"})
        page = Page()

        def add(name: str, prefix: str, org: Optional[str] = None) -> None:
            if canonical(name) and (org is None or canonical(org)):
                page.found.setdefault(name, 0)
                page.prefixes.setdefault(name, []).append(prefix)
                if org:
                    page.organizations[name] = org

        budget = size  # folder names per page; a listing that finds none still costs one
        while budget > 0:
            if pos["phase"] == "uploads":
                org = pos.get("org")
                if org is None:
                    org = _first(self.store.folders("uploads/", start_after=pos.get("orgAfter")))
                    if org is None:
                        pos = {"phase": "materials"}
                        continue
                    pos = {"phase": "uploads", "org": org}
                names = _take(self.store.folders(f"uploads/{org}/", start_after=pos.get("after")), budget)
                for name in names:
                    add(name, f"uploads/{org}/{name}/", org)
                if len(names) < budget:  # this organization's folders are all seen
                    pos = {"phase": "uploads", "orgAfter": org}
                else:
                    pos["after"] = names[-1]
                budget -= max(1, len(names))
            else:
                names = _take(self.store.folders("materials/", start_after=pos.get("after")), budget)
                for name in names:
                    add(name, f"materials/{name}/")
                if len(names) < budget:
                    page.next = None
                    return page
                pos["after"] = names[-1]
                budget -= len(names)
        page.next = pos
        return page

    def valid(self, position: Any) -> bool:
        """{"phase": "uploads", "org"?, "orgAfter"?, "after"?} or {"phase": "materials", "after"?}: every
        name a canonical UUID, since each becomes part of a storage path."""
        from ..orphans import canonical

        if not isinstance(position, dict) or position.get("phase") not in ("uploads", "materials"):
            return False
        allowed = {"phase", "after"} | ({"org", "orgAfter"} if position["phase"] == "uploads" else set())
        return set(position) <= allowed and all(
            position.get(k) is None or canonical(position.get(k)) is not None for k in allowed - {"phase"})

    def measure(self, prefixes: list[str]) -> Counts:
        total = Counts()
        for prefix in prefixes:
            usage = self.store.measure(prefix)
            total += usage
        return total


def _take(iterator: Iterator[str], n: int) -> list[str]:
    out: list[str] = []
    if n <= 0:
        return out
    for item in iterator:
        out.append(item)
        if len(out) >= n:
            break
    return out


def _first(iterator: Iterator[str]) -> Optional[str]:
    for item in iterator:
        return item
    return None


STORE = PurgeStore(
    name="files", count_key="filesDeleted", bytes_key="bytesFreed", step_order=3, sweep_order=3,
    description="`uploads/{orgId}/{courseId}/` and `materials/{courseId}/` in STORAGE_URL (a directory or S3)",
    step=lambda r: FileStep(r.files) if r.files is not None else None,
    source=lambda r: FilesSource(r.files) if r.files is not None else None)
