"""The object store behind documents and drops: a folder, or a bucket on a local S3 (moto server)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from config.settings import S3Settings
from omnibill.store import LocalStore, ObjectStore, S3Store, open_store
from tests.adapters.helpers import create_bucket, moto_s3


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Settings]:
    """A moto S3 server for this module."""
    with moto_s3() as settings:
        yield settings


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path, s3) -> ObjectStore:
    """Each store kind, empty."""
    if request.param == "local":
        return LocalStore(tmp_path / "store")
    return S3Store(f"s3://{create_bucket(s3)}/documents", s3)


def test_put_then_get_exists_and_keys(store):
    assert store.put("demo/2026-11/a/invoice.pdf", b"%PDF-1", "application/pdf") == "demo/2026-11/a/invoice.pdf"
    store.put("demo/2026-11/b/invoice.pdf", b"%PDF-2")
    store.put("demo/2026-10/c/invoice.pdf", b"%PDF-3")
    assert store.get("demo/2026-11/a/invoice.pdf") == b"%PDF-1"
    assert store.exists("demo/2026-11/b/invoice.pdf") and not store.exists("demo/2026-11/z/invoice.pdf")
    assert store.keys("demo/2026-11") == ["demo/2026-11/a/invoice.pdf", "demo/2026-11/b/invoice.pdf"]
    assert len(store.keys()) == 3


def test_put_overwrites(store):
    store.put("k/x.txt", b"one")
    store.put("k/x.txt", b"two")
    assert store.get("k/x.txt") == b"two" and store.keys("k") == ["k/x.txt"]


def test_move_keeps_bytes_and_metadata_under_the_new_key(store):
    store.put("in/r.xml", b"<r/>", "application/xml", metadata={"source": "ap"})
    store.move("in/r.xml", "in/read/r.xml")
    assert store.keys("in") == ["in/read/r.xml"] and not store.exists("in/r.xml")
    assert store.get("in/read/r.xml") == b"<r/>" and store.metadata("in/read/r.xml")["source"] == "ap"


def test_a_local_copy_is_the_file_itself_or_a_download(store, tmp_path):
    store.put("big/table.csv", b"a,b\n1,2\n")
    path = store.local_path("big/table.csv", tmp_path)
    assert path.read_bytes() == b"a,b\n1,2\n"


def test_an_empty_prefix_has_no_keys(store):
    assert store.keys("nothing/here") == []


def test_a_missing_key_cannot_be_read(store):
    with pytest.raises(Exception):  # noqa: B017 (FileNotFoundError locally, NoSuchKey on S3)
        store.get("missing.pdf")


def test_the_s3_prefix_is_kept_out_of_keys(s3):
    bucket = create_bucket(s3)
    S3Store(f"s3://{bucket}/tenant-a", s3).put("x.xml", b"<a/>")
    whole = S3Store(f"s3://{bucket}", s3)
    assert whole.keys() == ["tenant-a/x.xml"] and whole.get("tenant-a/x.xml") == b"<a/>"


@pytest.mark.parametrize("key", ["../outside.pdf", "a/../../outside.pdf", "/etc/passwd", "", ".", "a/..", "..",
                                 "a/./../../outside.pdf"])
def test_a_local_key_cannot_escape_the_folder(tmp_path, key):
    store = LocalStore(tmp_path / "store")
    with pytest.raises(ValueError, match="escapes"):
        store.put(key, b"x")
    assert not (tmp_path / "outside.pdf").exists()


def test_a_key_with_dots_inside_the_folder_is_the_file_it_names(tmp_path):
    store = LocalStore(tmp_path / "store")
    store.put("a/./b/../c.pdf", b"x")
    assert store.get("a/c.pdf") == b"x" and store.keys() == ["a/c.pdf"]
    assert store.get("a/..x/../c.pdf") == b"x"  # "..x" is a name, not the parent


def test_half_written_files_are_not_listed(tmp_path):
    store = LocalStore(tmp_path)
    store.put("a.pdf", b"x")
    (tmp_path / "b.pdf.part").write_bytes(b"half")
    assert store.keys() == ["a.pdf"]


def test_open_store_picks_the_store_from_the_url(tmp_path, s3):
    assert isinstance(open_store(str(tmp_path)), LocalStore)
    assert isinstance(open_store("s3://bucket/prefix", s3), S3Store)
