"""The archive on SQLite and PostgreSQL: every sent document stored once as PDF/A-3b, with its e-invoice XML,
its retention as metadata, under S3 Object Lock when the bucket has it; `omnibill archive get` fetches it."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy import text

from config.tenant import load_tenant
from omnibill.archive.archive import archive_key, archive_run, fetch_archived, NotArchivable
from omnibill.archive.check import embedded_files, pdfa_problems
from omnibill.decide.stage import decide_batch
from omnibill.extract.results import ValidatedExtract
from omnibill.extract.stage import store_extract
from omnibill.ledger.archive import archived_in_run
from omnibill.ledger.db import Ledger
from omnibill.ledger.repository import messages_in, set_states
from omnibill.ledger.runs import open_run
from omnibill.model import BillingDocument, InvoiceLine, Party, document_key
from omnibill.render import render_pdf
from omnibill.store import LocalStore, S3Store
from tests.conftest import REPO

KEY = b"test address key"
RULES = load_tenant("demo", REPO / "config" / "tenants")
UBL = b'<?xml version="1.0" encoding="UTF-8"?><Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"/>'
PERSONAL = ("Kund C", "kund", "@example.se", "Storgatan")


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}" if request.param == "sqlite" \
        else request.getfixturevalue("postgres_url")
    db = Ledger(url)
    yield db
    db.dispose()


def _docs(n: int) -> list[BillingDocument]:
    line = InvoiceLine(1, "El", Decimal("1"), "st", Decimal("100"), Decimal("25"), Decimal("100"))
    return [BillingDocument(document_key("demo", "2026-11", f"INV-{i}"), f"INV-{i}", "invoice", "2026-11",
                            date(2026, 11, 1), date(2026, 12, 1), "SEK", Decimal("100"), Decimal("25"),
                            Decimal("125"), "1234566",
                            Party(customer_id=f"C{i}", customer_type="person", name=f"Kund C{i}", country="SE",
                                  language="sv", email=f"kund{i}@example.se", street="Storgatan 1",
                                  postal_code="111 22", city="Stockholm"), (line,)) for i in range(n)]


def _prepare(ledger: Ledger, store: LocalStore, n: int = 5):
    """A run whose INV-0..2 were sent with a PDF (INV-1 delivered), INV-3 sent as an e-invoice only (XML, no
    PDF), INV-4 rendered but not sent yet."""
    docs = _docs(n)
    customers = {d.customer.customer_id: d.customer for d in docs}
    consents = {c: {"invoice": {"email": {"status": "opt_in", "recorded_at": "2025-01-01", "source": "web"}}}
                for c in customers}
    with ledger.transaction() as s:
        run = open_run(s, "demo", "2026-11", "memory")
        store_extract(s, run.id, ValidatedExtract(customers, docs, consents, [], n, {}), batch_size=100)
        decide_batch(s, run, 0, RULES, hash_key=KEY)
        planned = {m.document_id: m for m in messages_in(s, run.id, states=("planned",))}
        changes = []
        for doc in docs:
            prefix = f"demo/2026-11/{doc.document_id}"
            if doc.invoice_id == "INV-3":
                content = {"ubl": store.put(f"{prefix}/einvoice.xml", UBL, "application/xml")}
            else:
                content = {"pdf": store.put(f"{prefix}/document.pdf", render_pdf(doc, RULES.to_sender("SE")))}
            changes.append({"id": planned[doc.document_id].id, "from_state": "planned", "state": "rendered",
                            "content": content})
        set_states(s, changes)
        state = {"INV-1": "delivered", "INV-4": None}
        set_states(s, [{"id": planned[d.document_id].id, "from_state": "rendered",
                        "state": state.get(d.invoice_id, "sent"), "reason": "test"}
                       for d in docs if state.get(d.invoice_id, "sent")])
    return run, {d.invoice_id: d for d in docs}


class CountingStore(LocalStore):
    """A folder archive that counts its writes."""

    def __init__(self, root):
        super().__init__(root)
        self.puts: Counter = Counter()

    def put(self, key, data, content_type="application/octet-stream", **kw):
        self.puts[key] += 1
        return super().put(key, data, content_type, **kw)


def test_every_sent_document_is_archived_once_as_pdfa(ledger, tmp_path):
    store, archive = LocalStore(tmp_path / "documents"), CountingStore(tmp_path / "archive")
    run, docs = _prepare(ledger, store)
    assert archive_run(ledger, run, store, archive, RULES) == Counter(archived=4, rendered=1)
    assert archive_run(ledger, run, store, archive, RULES) == Counter()
    assert sorted(archive.keys()) == sorted(archive_key(run, docs[i].document_id, i) for i in
                                            ("INV-0", "INV-1", "INV-2", "INV-3"))
    assert set(archive.puts.values()) == {1}  # never written twice
    for invoice_id in ("INV-0", "INV-1", "INV-2", "INV-3"):
        key = archive_key(run, docs[invoice_id].document_id, invoice_id)
        data = archive.get(key)
        assert data.startswith(b"%PDF-1.7") and pdfa_problems(data) == []
        meta = archive.metadata(key)
        assert meta["retain-until"] == "2037-01-01T00:00:00+00:00" and meta["invoice-id"] == invoice_id
        assert meta["content-type"] == "application/pdf" and meta["retention-years"] == "10"
        assert not any(p in json.dumps(meta) for p in PERSONAL)
    einvoice = archive.get(archive_key(run, docs["INV-3"].document_id, "INV-3"))
    assert embedded_files(einvoice) == {"einvoice.xml": ("Alternative", UBL)}


def test_copies_made_by_worker_processes_are_the_ones_made_here(ledger, tmp_path, monkeypatch):
    """The run archives in its render processes, a chunk per task: the same bytes and records as in-process."""
    import omnibill.archive.archive as archive_module

    store = LocalStore(tmp_path / "documents")
    run, docs = _prepare(ledger, store)
    here = LocalStore(tmp_path / "here")
    assert archive_run(ledger, run, store, here, RULES) == Counter(archived=4, rendered=1)
    with ledger.transaction() as s:  # forget the records: the next archive writes again
        s.execute(text("DELETE FROM archived_documents"))
    monkeypatch.setattr(archive_module, "CHUNK", 1)  # one document per task: four tasks over two processes
    apart = CountingStore(tmp_path / "apart")
    assert archive_run(ledger, run, store, apart, RULES, workers=2) == Counter(archived=4, rendered=1)
    assert sorted(apart.keys()) == sorted(here.keys()) and all(apart.get(k) == here.get(k) for k in here.keys())
    with ledger.read() as s:
        assert len(archived_in_run(s, run.id)) == 4
    with ledger.read() as s:
        rows = {r.invoice_id: r for r in archived_in_run(s, run.id)}
    assert sorted(rows) == ["INV-0", "INV-1", "INV-2", "INV-3"]
    assert [r.einvoice for r in rows.values()] == [False, False, False, True]
    assert all(r.retain_until.replace(tzinfo=timezone.utc) == datetime(2037, 1, 1, tzinfo=timezone.utc)
               and not r.object_lock for r in rows.values())


def test_an_object_already_in_the_archive_is_recorded_not_rewritten(ledger, tmp_path):
    """A crash after the put and before the ledger write: the next run finds the object and keeps it."""
    store, archive = LocalStore(tmp_path / "documents"), CountingStore(tmp_path / "archive")
    run, docs = _prepare(ledger, store)
    key = archive_key(run, docs["INV-2"].document_id, "INV-2")
    LocalStore(tmp_path / "archive").put(key, b"%PDF-1.7 stored before the crash")
    assert archive_run(ledger, run, store, archive, RULES) == Counter(archived=3, found=1, rendered=1)
    assert key not in archive.puts and archive.get(key) == b"%PDF-1.7 stored before the crash"
    record, period, data = fetch_archived(ledger, archive, "demo", "INV-2")
    assert (record.key, period, data) == (key, "2026-11", b"%PDF-1.7 stored before the crash")


def test_a_document_that_cannot_be_archived_is_left_for_the_next_run(ledger, tmp_path):
    store, archive = LocalStore(tmp_path / "documents"), LocalStore(tmp_path / "archive")
    run, docs = _prepare(ledger, store)
    (tmp_path / "documents" / "demo" / "2026-11" / docs["INV-0"].document_id / "document.pdf").write_bytes(b"junk")
    assert archive_run(ledger, run, store, archive, RULES) == Counter(archived=3, failed=1, rendered=1)
    store.put(f"demo/2026-11/{docs['INV-0'].document_id}/document.pdf", render_pdf(docs["INV-0"], RULES.to_sender()))
    assert archive_run(ledger, run, store, archive, RULES) == Counter(archived=1)


def test_fetch_checks_the_hash_and_names_what_is_missing(ledger, tmp_path):
    store, archive = LocalStore(tmp_path / "documents"), LocalStore(tmp_path / "archive")
    run, docs = _prepare(ledger, store)
    archive_run(ledger, run, store, archive, RULES)
    record, period, data = fetch_archived(ledger, archive, "demo", "INV-1", "2026-11")
    assert period == "2026-11" and pdfa_problems(data) == [] and record.document_id == docs["INV-1"].document_id
    with pytest.raises(LookupError, match="'INV-4' of tenant 'demo' is not in the archive"):
        fetch_archived(ledger, archive, "demo", "INV-4")
    with pytest.raises(LookupError, match="not in the archive in 2026-10"):
        fetch_archived(ledger, archive, "demo", "INV-1", "2026-10")
    (tmp_path / "archive" / record.key).write_bytes(data + b"\n% altered")
    with pytest.raises(NotArchivable, match="sha256 mismatch"):
        fetch_archived(ledger, archive, "demo", "INV-1")


@pytest.mark.parametrize("locked", [True, False], ids=["object-lock", "no-lock"])
def test_s3_archive_keeps_retention_as_metadata_and_locks_when_the_bucket_can(tmp_path, locked):
    import boto3
    from botocore.exceptions import ClientError

    from tests.adapters.helpers import moto_s3

    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    store = LocalStore(tmp_path / "documents")
    run, docs = _prepare(ledger, store)
    with moto_s3() as s3:
        client = boto3.client("s3", endpoint_url=s3.endpoint_url, region_name=s3.region,
                              aws_access_key_id="testing", aws_secret_access_key="testing")
        bucket = f"archive-{uuid.uuid4().hex[:12]}"  # moto's state outlives one server in this process
        client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": s3.region},
                             ObjectLockEnabledForBucket=locked)
        archive = S3Store(f"s3://{bucket}/omnibill", s3)
        assert archive_run(ledger, run, store, archive, RULES) == Counter(archived=4, rendered=1)
        assert archive_run(ledger, run, store, S3Store(f"s3://{bucket}/omnibill", s3), RULES) == Counter()
        key = "omnibill/" + archive_key(run, docs["INV-0"].document_id, "INV-0")
        head = client.head_object(Bucket=bucket, Key=key)
        assert head["ContentType"] == "application/pdf"
        assert head["Metadata"]["retain-until"] == "2037-01-01T00:00:00+00:00"
        assert head["Metadata"]["document-id"] == docs["INV-0"].document_id
        versions = client.list_object_versions(Bucket=bucket, Prefix=key).get("Versions", [])
        assert len(versions) == 1  # written once
        if locked:
            assert head["ObjectLockMode"] == "COMPLIANCE"
            assert head["ObjectLockRetainUntilDate"] == datetime(2037, 1, 1, tzinfo=timezone.utc)
            with pytest.raises(ClientError, match="AccessDenied"):
                client.delete_object(Bucket=bucket, Key=key, VersionId=head["VersionId"])
        else:
            assert "ObjectLockMode" not in head
        record, _, data = fetch_archived(ledger, archive, "demo", "INV-0")
        assert record.object_lock is locked and pdfa_problems(data) == []
    ledger.dispose()


def test_cli_archive_get_writes_the_file_and_no_personal_data(omnibill_env, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from omnibill.cli.app import app
    from tests.conftest import reset_caches

    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    monkeypatch.setenv("OMNIBILL_DATABASE_URL", url)
    monkeypatch.setenv("OMNIBILL_ARCHIVE_URL", str(tmp_path / "archive"))
    reset_caches()
    ledger, store = Ledger(url), LocalStore(tmp_path / "documents")
    run, _ = _prepare(ledger, store)
    archive_run(ledger, run, store, LocalStore(tmp_path / "archive"), RULES)
    ledger.dispose()
    out = tmp_path / "cs" / "INV-3.pdf"
    result = CliRunner().invoke(app, ["archive", "get", "--tenant", "demo", "--invoice", "INV-3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "e-invoice XML embedded" in result.output and "kept until 2037-01-01" in result.output
    assert not any(p in result.output for p in PERSONAL)
    assert pdfa_problems(out.read_bytes()) == [] and embedded_files(out.read_bytes())["einvoice.xml"][1] == UBL
    missing = CliRunner().invoke(app, ["archive", "get", "--tenant", "demo", "--invoice", "INV-4"])
    assert missing.exit_code == 1 and "not in the archive" in missing.output


def test_the_proof_made_in_a_process_of_its_own_is_the_one_made_here(ledger, tmp_path):
    """Large runs build the proof in a process started for it (the validator's memory leaves with it)."""
    from config.settings import Settings
    from omnibill.proof.stage import proof_key, run_proof, run_proof_apart

    store = LocalStore(tmp_path / "documents")
    run, _ = _prepare(ledger, store)
    settings = Settings()
    apart = run_proof_apart(ledger.url, run.id, RULES, str(tmp_path / "documents"), settings.s3,
                            settings.validation_dir)
    page = store.get(proof_key(run))
    here = run_proof(ledger, run, RULES, store, settings.validation_dir)
    assert (apart.documents, apart.shown, apart.cells, apart.rows) == (here.documents, here.shown, here.cells,
                                                                        here.rows) == (5, 2, 1, apart.rows)
    assert page == store.get(proof_key(run)) and b"INV-4" in page  # the same page, the largest amount on it
