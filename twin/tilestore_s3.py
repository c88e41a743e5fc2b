"""Tile content in an S3-compatible object store (AWS S3, SeaweedFS, MinIO, Ceph RGW); PostGIS keeps the index.

Objects are written first, under `<prefix><tileset>/v<version>/<path>`, while the index rows are copied inside
the caller's transaction; only after the transaction commits do rows point at them. When it fails, `discard`
deletes the version's objects, so no row ever names a missing object and no orphan outlives the failure;
`collect` deletes objects that no row points at any more once a new version has committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy import Engine, text

from tiles.model import TileEntry
from twin.tilestore import ContentUnavailable, NotFound, TileStore

_MISSING = {"NoSuchKey", "404", "NotFound"}


@dataclass(frozen=True)
class S3Config:
    """Where the bucket is and how to sign in; `endpoint` None means AWS itself."""

    bucket: str
    endpoint: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    region: str = "us-east-1"
    prefix: str = ""


class S3TileStore(TileStore):
    """Content as objects in one bucket; rows hold the object key in `storage_key`."""

    name = "s3"

    def __init__(self, config: S3Config, client: Any | None = None) -> None:
        if not config.bucket:
            raise ValueError("the s3 tile store needs CITYTWIN_S3_BUCKET")
        if config.prefix and not config.prefix.endswith("/"):
            raise ValueError(f"CITYTWIN_S3_PREFIX {config.prefix!r} must end with '/'")
        self.config = config
        self.bucket = config.bucket
        self.client = client or boto3.client(
            "s3", endpoint_url=config.endpoint, aws_access_key_id=config.access_key,
            aws_secret_access_key=config.secret_key, region_name=config.region,
            config=Config(retries={"max_attempts": 5, "mode": "standard"}, max_pool_connections=16))
        self._bucket_checked = False

    def ensure_bucket(self) -> None:
        """Create the bucket when it does not exist yet (once per store)."""
        if self._bucket_checked:
            return
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) not in _MISSING | {"NoSuchBucket"}:
                raise
            self.client.create_bucket(Bucket=self.bucket)
        self._bucket_checked = True

    def _version_prefix(self, tileset_id: str, version: int) -> str:
        return f"{self.config.prefix}{tileset_id}/v{version}/"

    def _place(self, tileset_id: str, version: int, entry: TileEntry) -> tuple[bytes | None, str | None]:
        if entry.path.startswith("/") or ".." in entry.path.split("/"):
            raise ValueError(f"tile path {entry.path!r} escapes the store")
        self.ensure_bucket()
        key = self._version_prefix(tileset_id, version) + entry.path
        self.client.put_object(Bucket=self.bucket, Key=key, Body=entry.content, ContentType=entry.content_type)
        return None, key

    def _keys(self, prefix: str) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def _delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):  # the S3 limit of one DeleteObjects call
            chunk = [{"Key": k} for k in keys[start:start + 1000]]
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": chunk, "Quiet": True})

    def discard(self, tileset_id: str, version: int) -> None:
        self.ensure_bucket()
        self._delete(self._keys(self._version_prefix(tileset_id, version)))

    def collect(self, engine: Engine, tileset_id: str) -> None:
        with engine.connect() as conn:
            keep = {row[0] for row in conn.execute(
                text("SELECT storage_key FROM tiles WHERE tileset_id = :t AND storage_key IS NOT NULL"),
                {"t": tileset_id})}
        self.ensure_bucket()
        self._delete([k for k in self._keys(f"{self.config.prefix}{tileset_id}/") if k not in keep])

    def stored_keys(self, tileset_id: str) -> list[str]:
        """Every object of a tileset, sorted (for checks and audits)."""
        return sorted(self._keys(f"{self.config.prefix}{tileset_id}/"))

    def read_file(self, key: str) -> bytes:
        try:
            return bytes(self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in _MISSING | {"NoSuchBucket"}:
                raise NotFound(f"tile content {key!r} is missing from the object store") from exc
            raise ContentUnavailable(f"the object store refused tile content {key!r}: {exc}") from exc
        except BotoCoreError as exc:  # connection refused, timeouts, DNS
            raise ContentUnavailable(f"the object store cannot be reached: {exc}") from exc
