"""Uploaded files, behind one small interface: a local directory (`file://DIR`) or S3 (`s3://BUCKET[/PREFIX]`).

A course owns two prefixes, `uploads/{orgId}/{courseId}/` and `materials/{courseId}/`. The purge
measures and deletes whole prefixes; the orphan sweep lists the course folders under a prefix.
Paths are built only from UUIDs (validated by the callers), so nothing like `..` reaches a path.

boto3 is imported on first use: the draft function never pays for it, the purge only when S3 is
configured. Any S3-compatible endpoint works through S3_ENDPOINT_URL (Supabase Storage, MinIO, moto).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Protocol

from ..errors import StoreUnavailable
from ..settings import Settings, get_settings

S3_DELETE_BATCH = 1000  # the most keys one DeleteObjects request takes


class UnsafePath(RuntimeError):
    """A folder the purge will not touch (a link out of the storage root): its step fails, reported."""


@dataclass(frozen=True)
class Usage:
    files: int = 0
    bytes: int = 0

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(self.files + other.files, self.bytes + other.bytes)


class FileStore(Protocol):
    name: str

    def measure(self, prefix: str) -> Usage:
        """What lies under `prefix` (a folder path ending in '/'), without changing anything."""

    def delete_prefix(self, prefix: str) -> Usage:
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

    def measure(self, prefix: str) -> Usage:
        total = Usage()
        for _path, size in self._walk(prefix):
            total += Usage(1, size)
        return total

    def delete_prefix(self, prefix: str) -> Usage:
        total = Usage()
        try:
            for path, size in list(self._walk(prefix)):
                try:
                    path.unlink()
                except FileNotFoundError:
                    continue
                total += Usage(1, size)
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
                 timeout: float = 3.0, client=None):
        self.bucket = bucket
        self.base = base.strip("/") + "/" if base.strip("/") else ""
        self._endpoint_url = endpoint_url
        self._timeout = timeout
        self._client = client
        self._lock = threading.Lock()

    @property
    def client(self):
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

    def _errors(self):
        from botocore.exceptions import BotoCoreError, ClientError

        return BotoCoreError, ClientError

    def _objects(self, prefix: str) -> Iterator[dict]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.base + prefix):
            yield from page.get("Contents", ())

    def measure(self, prefix: str) -> Usage:
        try:
            total = Usage()
            for obj in self._objects(prefix):
                total += Usage(1, int(obj.get("Size", 0)))
            return total
        except self._errors() as exc:
            raise StoreUnavailable("storage", exc) from None

    def delete_prefix(self, prefix: str) -> Usage:
        """List page by page and delete each page in one request (at most 1000 keys each)."""
        total = Usage()
        try:
            batch: list[dict] = []
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

    def _delete(self, objects: list[dict]) -> Usage:
        reply = self.client.delete_objects(Bucket=self.bucket, Delete={
            "Objects": [{"Key": o["Key"]} for o in objects], "Quiet": True})
        errors = reply.get("Errors") or []
        if errors:
            first = errors[0]
            raise RuntimeError(f"S3 refused to delete {len(errors)} object(s), e.g. {first.get('Key')}: "
                               f"{first.get('Code')}")
        return Usage(len(objects), sum(int(o.get("Size", 0)) for o in objects))

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


def open_storage(url: str, settings: Optional[Settings] = None) -> FileStore:
    settings = settings or get_settings()
    if url.startswith("file://"):
        return LocalFiles(url[len("file://"):])
    if url.startswith("s3://"):
        bucket, _, base = url[len("s3://"):].partition("/")
        return S3Files(bucket, base, endpoint_url=settings.s3_endpoint_url, timeout=settings.store_timeout_seconds)
    raise ValueError("STORAGE_URL must be file://DIR or s3://BUCKET[/PREFIX]")


_store: Optional[FileStore] = None
_store_lock = threading.Lock()


def file_store() -> Optional[FileStore]:
    """This container's storage, or None when STORAGE_URL is not set (no uploads in this deployment)."""
    global _store
    if _store is None:
        url = get_settings().storage_url
        if not url:
            return None
        with _store_lock:
            if _store is None:
                _store = open_storage(url)
    return _store


def reset_store() -> None:
    global _store
    with _store_lock:
        _store = None
