"""Print-house and e-invoice drop specifics: the print stream, its manifest, the UBL files."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from pathlib import Path

from pypdf import PdfReader

from channel_adapters.base import Attachment
from channel_adapters.einvoice import EInvoiceDropAdapter
from channel_adapters.print_house import PrintHouseAdapter
from omnibill.store import LocalStore, S3Store
from tests.adapters.helpers import create_bucket, outbound


class RecordingStore(LocalStore):
    """A real folder store that also notes the order of writes."""

    def __init__(self, root: Path):
        super().__init__(root)
        self.writes: list[str] = []

    def put(self, key, data, content_type="application/octet-stream"):
        self.writes.append(key)
        return super().put(key, data, content_type)


def manifest_rows(store, key: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(store.get(key).decode())))


def test_the_print_stream_starts_each_letter_on_a_new_sheet_and_the_manifest_says_where(tmp_path, tag):
    store = RecordingStore(tmp_path / "print")
    # Postal codes 11002, 11001, 11000: the stream is presorted by postal code.
    batch = [outbound("print", tag, n, "x", pages=pages, postal_code=f"1100{2 - n}")
             for n, pages in enumerate([1, 2, 3])]
    results = PrintHouseAdapter(store).send_batch(batch)
    pdf_key, manifest_key = store.writes  # the manifest, the print house's "go", comes last
    assert pdf_key.endswith(".pdf") and manifest_key == pdf_key.removesuffix(".pdf") + ".csv"
    assert {r.provider_ref for r in results} == {manifest_key}
    rows = manifest_rows(store, manifest_key)
    assert [(r["message_id"], r["first_page"], r["page_count"], r["sheets"]) for r in rows] == [
        (batch[2].message_id, "1", "3", "2"), (batch[1].message_id, "5", "2", "1"),
        (batch[0].message_id, "7", "1", "1")]
    assert rows[0]["street"] == "Storgatan 2" and rows[0]["country"] == "SE"
    assert len(PdfReader(io.BytesIO(store.get(pdf_key))).pages) == 8  # 3+1 blank, 2, 1+1 blank


def test_a_rerun_of_the_same_batch_prints_nothing_again(tmp_path, tag):
    store = RecordingStore(tmp_path / "print")
    batch = [outbound("print", tag, n, "x") for n in range(3)]
    first = PrintHouseAdapter(store).send_batch(batch)
    again = PrintHouseAdapter(store).send_batch(list(reversed(batch)))  # a new process, after a crash
    assert len(store.writes) == 2 and len(store.keys()) == 2
    assert {r.provider_ref for r in again} == {r.provider_ref for r in first} and {r.status for r in again} == {"sent"}


def test_a_letter_is_in_one_print_file_however_the_chunk_is_made_up_again(tmp_path, tag):
    store = RecordingStore(tmp_path / "print")
    letters = [outbound("print", tag, n, "x") for n in range(5)]
    PrintHouseAdapter(store).send_batch(letters[:3])  # dropped; then the run died before recording it
    results = PrintHouseAdapter(store).send_batch(letters[1:])  # claimed again, with two more letters
    manifests = [k for k in store.keys() if k.endswith(".csv")]
    printed = [row["message_id"] for k in manifests for row in manifest_rows(store, k)]
    assert sorted(printed) == sorted(m.message_id for m in letters)  # each letter once, in one file
    assert len(manifests) == 2 and all(r.status == "sent" for r in results)


def test_a_simplex_print_stream_has_no_blank_pages(tmp_path, tag):
    store = LocalStore(tmp_path / "print")
    batch = [outbound("print", tag, n, "x", pages=1) for n in range(3)]
    [result, *_] = PrintHouseAdapter(store, duplex=False).send_batch(batch)
    pdf_key = result.provider_ref.removesuffix(".csv") + ".pdf"
    assert len(PdfReader(io.BytesIO(store.get(pdf_key))).pages) == 3
    assert [r["sheets"] for r in manifest_rows(store, result.provider_ref)] == ["1", "1", "1"]


def test_an_unreadable_pdf_fails_only_its_message(tmp_path, tag):
    batch = [outbound("print", tag, n, "x") for n in range(2)]
    batch[1] = replace(batch[1], attachments=(Attachment("x.pdf", "application/pdf", b"not a pdf"),))
    results = PrintHouseAdapter(LocalStore(tmp_path / "print")).send_batch(batch)
    assert [(r.status, r.permanent) for r in results] == [("sent", False), ("failed", True)]
    assert "PDF" in results[1].error


def test_each_einvoice_lands_under_its_message_id_in_s3(s3_settings, tag):
    store = S3Store(f"s3://{create_bucket(s3_settings)}/peppol", s3_settings)
    batch = [outbound("einvoice", tag, n, "0007:5567321707") for n in range(2)]
    results = EInvoiceDropAdapter(store).send_batch(batch)
    assert [r.provider_ref for r in results] == [f"demo/{tag}/{m.message_id}.xml" for m in batch]
    assert store.get(results[0].provider_ref) == batch[0].attachments[1].content
    assert store.client.list_objects_v2(Bucket=store.bucket)["KeyCount"] == 2
