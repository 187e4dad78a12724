"""Where bytes live: a local folder or an S3 bucket, behind one small interface."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from urllib.parse import urlparse

from config.settings import S3Settings


class ObjectStore(ABC):
    """Keys are relative paths such as `demo/2026-11/<document_id>/invoice.pdf`."""

    url: str

    @abstractmethod
    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        """Store bytes under a key (overwriting: same key, same content) and return the key."""

    @abstractmethod
    def get(self, key: str) -> bytes:
        """The bytes stored under a key."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether a key is stored."""

    @abstractmethod
    def keys(self, prefix: str = "") -> list[str]:
        """All keys under a prefix, sorted."""


class LocalStore(ObjectStore):
    """A folder on disk; writes go through a temporary file so a crash leaves no half file."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.url = str(self.root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError(f"key escapes the store: {key!r}")
        return path

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(data)
        tmp.replace(path)
        return key

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def keys(self, prefix: str = "") -> list[str]:
        base = self.root / prefix if prefix else self.root
        if not base.exists():
            return []
        return sorted(str(p.relative_to(self.root)) for p in base.rglob("*")
                      if p.is_file() and not p.name.endswith(".part"))


class S3Store(ObjectStore):
    """A bucket and prefix reached over the S3 API (boto3)."""

    def __init__(self, url: str, settings: S3Settings):
        import boto3

        parsed = urlparse(url)
        self.url = url
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        self.client = boto3.client(
            "s3",
            endpoint_url=settings.endpoint_url,
            region_name=settings.region,
            aws_access_key_id=settings.access_key_id.get_secret_value() if settings.access_key_id else None,
            aws_secret_access_key=settings.secret_access_key.get_secret_value() if settings.secret_access_key else None,
        )

    def _key(self, key: str) -> str:
        if ".." in key.split("/") or key.startswith("/"):
            raise ValueError(f"key escapes the store: {key!r}")
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type)
        return key

    def get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def keys(self, prefix: str = "") -> list[str]:
        full = self._key(prefix) if prefix else (self.prefix + "/" if self.prefix else "")
        strip = len(self.prefix) + 1 if self.prefix else 0
        found: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full):
            found.extend(obj["Key"][strip:] for obj in page.get("Contents", []))
        return sorted(found)


def open_store(url: str, s3: S3Settings | None = None) -> ObjectStore:
    """A store for a folder path or an s3://bucket/prefix URL."""
    if url.startswith("s3://"):
        return S3Store(url, s3 or S3Settings())
    return LocalStore(url)
