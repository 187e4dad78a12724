"""Where bytes live: a local folder or an S3 bucket, behind one small interface."""

from __future__ import annotations

import json
import posixpath
from abc import ABC, abstractmethod
from datetime import datetime
from functools import cached_property
from pathlib import Path
from urllib.parse import urlparse

from config.settings import S3Settings


class ObjectStore(ABC):
    """Keys are relative paths such as `demo/2026-11/<document_id>/invoice.pdf`."""

    url: str

    @abstractmethod
    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream", *,
            metadata: dict[str, str] | None = None, retain_until: datetime | None = None) -> str:
        """Store bytes under a key (overwriting: same key, same content) and return the key.

        `metadata` (ASCII text) is kept with the object; `retain_until` asks the store to keep it unchanged
        until then where it can (S3 Object Lock) and is recorded in the metadata in any case.
        """

    @abstractmethod
    def get(self, key: str) -> bytes:
        """The bytes stored under a key."""

    @abstractmethod
    def metadata(self, key: str) -> dict[str, str]:
        """The metadata stored with a key by `put` (empty when none was given)."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether a key is stored."""

    @abstractmethod
    def keys(self, prefix: str = "") -> list[str]:
        """All keys under a prefix, sorted."""

    @abstractmethod
    def move(self, key: str, new_key: str) -> None:
        """Keep a key's bytes (and metadata) under another key instead."""

    def local_path(self, key: str, folder: Path) -> Path:
        """A file on this machine with the key's bytes, for reading in pieces: copied into `folder` if need be."""
        path = Path(folder) / key.replace("/", "_")
        if not path.exists():
            self.download(key, path)
        return path

    def download(self, key: str, path: Path) -> None:
        """Write the key's bytes to a file."""
        path.write_bytes(self.get(key))


META_SUFFIX = ".meta.json"


def _with_retention(metadata: dict[str, str] | None, retain_until: datetime | None) -> dict[str, str]:
    meta = dict(metadata or {})
    if retain_until is not None:
        meta["retain-until"] = retain_until.isoformat()
    return meta


class LocalStore(ObjectStore):
    """A folder on disk; writes go through a temporary file so a crash leaves no half file.

    Metadata goes to a sidecar `<file>.meta.json` (written first: a file is never without its metadata).
    A folder cannot lock a file: retention is recorded, not enforced.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.url = str(self.root)

    def _path(self, key: str) -> Path:
        # Judged on the key's text, not by resolving it on disk (a dozen system calls per call, on every put
        # and get): a key is a relative path that stays inside the folder once `.` and `..` are taken out.
        clean = posixpath.normpath(key)
        if not key or key.startswith("/") or clean == "." or clean.split("/", 1)[0] == "..":
            raise ValueError(f"key escapes the store: {key!r}")
        return self.root / clean

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream", *,
            metadata: dict[str, str] | None = None, retain_until: datetime | None = None) -> str:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        if metadata is not None or retain_until is not None:
            meta = {"content-type": content_type, **_with_retention(metadata, retain_until)}
            self._write(path.with_name(path.name + META_SUFFIX), json.dumps(meta, indent=1, sort_keys=True).encode())
        self._write(path, data)
        return key

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(data)
        tmp.replace(path)

    def metadata(self, key: str) -> dict[str, str]:
        """The metadata stored with a key (empty when none was given)."""
        path = self._path(key)
        sidecar = path.with_name(path.name + META_SUFFIX)
        return json.loads(sidecar.read_text()) if sidecar.is_file() else {}

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def local_path(self, key: str, folder: Path) -> Path:
        return self._path(key)

    def move(self, key: str, new_key: str) -> None:
        path, new = self._path(key), self._path(new_key)
        new.parent.mkdir(parents=True, exist_ok=True)
        sidecar = path.with_name(path.name + META_SUFFIX)
        if sidecar.is_file():
            sidecar.replace(new.with_name(new.name + META_SUFFIX))
        path.replace(new)

    def keys(self, prefix: str = "") -> list[str]:
        base = self.root / prefix if prefix else self.root
        if not base.exists():
            return []
        return sorted(str(p.relative_to(self.root)) for p in base.rglob("*")
                      if p.is_file() and not p.name.endswith((".part", META_SUFFIX)))


class S3Store(ObjectStore):
    """A bucket and prefix reached over the S3 API (boto3)."""

    def __init__(self, url: str, settings: S3Settings):
        import boto3

        parsed = urlparse(url)
        self.url, self._settings = url, settings
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        self.client = boto3.client(
            "s3",
            endpoint_url=settings.endpoint_url,
            region_name=settings.region,
            aws_access_key_id=settings.access_key_id.get_secret_value() if settings.access_key_id else None,
            aws_secret_access_key=settings.secret_access_key.get_secret_value() if settings.secret_access_key else None,
        )

    def __getstate__(self) -> dict:
        """Pickled for a worker process: the bucket and settings travel, the worker makes its own client."""
        return {"url": self.url, "settings": self._settings}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["url"], state["settings"])

    def _key(self, key: str) -> str:
        if ".." in key.split("/") or key.startswith("/"):
            raise ValueError(f"key escapes the store: {key!r}")
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream", *,
            metadata: dict[str, str] | None = None, retain_until: datetime | None = None) -> str:
        extra: dict[str, object] = {}
        if metadata is not None or retain_until is not None:
            extra["Metadata"] = _with_retention(metadata, retain_until)
        if retain_until is not None and self.object_lock:
            # Compliance mode: nobody, not even the bucket's owner, deletes or overwrites this version before then.
            extra |= {"ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": retain_until,
                      "ChecksumAlgorithm": "SHA256"}  # S3 wants an integrity checksum on locked puts
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type, **extra)
        return key

    @cached_property
    def object_lock(self) -> bool:
        """Whether the bucket has Object Lock enabled (asked once per store)."""
        from botocore.exceptions import ClientError

        try:
            config = self.client.get_object_lock_configuration(Bucket=self.bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ObjectLockConfigurationNotFoundError":
                return False
            raise
        return config.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"

    def metadata(self, key: str) -> dict[str, str]:
        """The user metadata stored with a key."""
        return self.client.head_object(Bucket=self.bucket, Key=self._key(key)).get("Metadata", {})

    def get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()

    def move(self, key: str, new_key: str) -> None:
        """A copy on the server (metadata included), then the old key deleted."""
        self.client.copy_object(Bucket=self.bucket, Key=self._key(new_key),
                                CopySource={"Bucket": self.bucket, "Key": self._key(key)})
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def download(self, key: str, path: Path) -> None:
        """Downloaded in parts straight to disk: the object is never whole in memory."""
        self.client.download_file(self.bucket, self._key(key), str(path))

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
