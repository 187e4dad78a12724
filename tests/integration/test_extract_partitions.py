"""The extract stage split into partitions stores what it stores when it reads the extract whole."""

from __future__ import annotations

from collections import Counter

import pytest
import sqlalchemy as sa

from omnibill.demo_data import write_demo_extract
from omnibill.extract.stage import run_extract
from omnibill.ledger.models import Document
from tests.integration.test_extract_database import _ledger, _stored, erp  # noqa: F401 (erp: a fixture)

PERIOD = "2026-11"
BATCH = 40


def _without_batches(stored: dict[str, list]) -> dict[str, list]:
    """Stored rows with the documents' batch number left out (batches are filled partition by partition)."""
    return {**stored, "documents": sorted(d[:5] + d[6:] for d in stored["documents"])}


def _batch_sizes(ledger) -> Counter:
    with ledger.read() as session:
        return Counter(session.scalars(sa.select(Document.batch_no)))


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_partitioned_extract_stores_what_the_whole_extract_stores(tmp_path, fmt):
    folder = tmp_path / "extract"
    write_demo_extract(folder, customers=300, period=PERIOD, fmt=fmt)
    whole, parts = _ledger(tmp_path, "whole"), _ledger(tmp_path, "parts")
    whole_summary = run_extract(whole, "demo", PERIOD, str(folder), batch_size=BATCH)
    parts_summary = run_extract(parts, "demo", PERIOD, str(folder), batch_size=BATCH, partition_customers=70)

    assert parts_summary == whole_summary
    expected, got = _stored(whole), _stored(parts)
    assert len(got["documents"]) > 300 and {q[0] for q in got["quarantine"]} >= {"customers", "invoices"}
    assert _without_batches(got) == _without_batches(expected)
    # batches are filled in order across partitions: every batch full but the last
    sizes = _batch_sizes(parts)
    assert sorted(sizes) == list(range(len(sizes)))
    assert all(sizes[b] == BATCH for b in range(len(sizes) - 1))

    # a second execution of the stage (a retry, a rerun) stores nothing new and changes nothing
    assert run_extract(parts, "demo", PERIOD, str(folder), batch_size=BATCH, partition_customers=70) == parts_summary
    assert _stored(parts) == got


def test_database_extract_in_partitions_stores_what_its_files_store(erp, tmp_path):  # noqa: F811
    url, folder = erp
    from_files, from_db = _ledger(tmp_path, "files"), _ledger(tmp_path, "db")
    run_extract(from_files, "demo", PERIOD, str(folder), batch_size=BATCH)
    run_extract(from_db, "demo", PERIOD, f"{url}?schema=erp", batch_size=BATCH, partition_customers=40)
    assert _without_batches(_stored(from_db)) == _without_batches(_stored(from_files))
