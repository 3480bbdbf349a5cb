"""Fixtures for the stores a purge touches beside Postgres and Redis (import them into a test module).

- `moto_s3`: moto's S3 server over real HTTP on a free loopback port, for the whole run;
- `storage`: a per-test file store, parametrizable as "file" (a temp directory) or "s3" (a fresh
  bucket on the moto server), with STORAGE_URL / S3_ENDPOINT_URL set for the functions;
- `qdrant`: a qdrant-client in local mode (":memory:") with the course_chunks collection, handed
  to the functions through use_qdrant().
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from devtools.localstores import free_port

AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
VECTOR_SIZE = 4


@pytest.fixture(scope="session")
def moto_s3():
    from moto.server import ThreadedMotoServer

    saved = {k: os.environ.get(k) for k in AWS_ENV}
    os.environ.update(AWS_ENV)  # boto3 needs some credentials; moto accepts any
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


class LocalDir:
    """A test's view of a file:// store."""

    kind = "file"

    def __init__(self, root: Path):
        self.root = root
        self.url = f"file://{root}"

    def put(self, key: str, data: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def keys(self) -> set[str]:
        return {str(p.relative_to(self.root)) for p in self.root.rglob("*") if p.is_file()}


class Bucket:
    """A test's view of an s3:// store (a bucket with a key prefix, as production may use)."""

    kind = "s3"

    def __init__(self, endpoint: str, name: str, base: str = "tenant-a"):
        import boto3

        self.client = boto3.client("s3", endpoint_url=endpoint)
        self.name, self.base = name, base
        self.client.create_bucket(Bucket=name)
        self.url = f"s3://{name}/{base}"

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.name, Key=f"{self.base}/{key}", Body=data)

    def keys(self) -> set[str]:
        found = set()
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name):
            for obj in page.get("Contents", ()):
                assert obj["Key"].startswith(self.base + "/"), obj["Key"]
                found.add(obj["Key"][len(self.base) + 1:])
        return found


@pytest.fixture(params=["file", "s3"])
def storage(request, tmp_path, settings_env):
    """The configured storage of this test, once as a directory and once as a bucket."""
    if request.param == "file":
        store = LocalDir(tmp_path / "uploads")
        store.root.mkdir()
        settings_env(STORAGE_URL=store.url)
    else:
        endpoint = request.getfixturevalue("moto_s3")
        store = Bucket(endpoint, f"purge-{uuid.uuid4().hex[:12]}")
        settings_env(STORAGE_URL=store.url, S3_ENDPOINT_URL=endpoint)
    return store


@pytest.fixture
def file_storage(tmp_path, settings_env):
    store = LocalDir(tmp_path / "uploads")
    store.root.mkdir()
    settings_env(STORAGE_URL=store.url)
    return store


@pytest.fixture
def qdrant():
    from qdrant_client import QdrantClient, models

    from functions.platform.settings import get_settings
    from tests.wired import use_qdrant

    client = QdrantClient(location=":memory:")
    client.create_collection(get_settings().qdrant_collection, vectors_config=models.VectorParams(
        size=VECTOR_SIZE, distance=models.Distance.COSINE))
    use_qdrant(client)
    yield client
    use_qdrant(None)
    client.close()


def add_points(client, course_id, organization_id, material_ids, n: int) -> None:
    from qdrant_client import models

    from functions.platform.settings import get_settings

    points = [models.PointStruct(
        id=str(uuid.uuid4()), vector=[0.1 * (i % 7 + 1), 0.2, 0.3, 0.4],
        payload={"course_id": str(course_id), "organization_id": str(organization_id),
                 "material_id": str(material_ids[i % len(material_ids)]) if material_ids else None,
                 "chunk_index": i})
        for i in range(n)]
    client.upsert(get_settings().qdrant_collection, points=points, wait=True)


def count_points(client, course_id) -> int:
    from qdrant_client import models

    from functions.platform.settings import get_settings

    flt = models.Filter(must=[models.FieldCondition(key="course_id", match=models.MatchValue(value=str(course_id)))])
    return client.count(get_settings().qdrant_collection, count_filter=flt, exact=True).count
