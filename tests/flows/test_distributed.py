"""More machines: one run's batches rendered and sent by two Dask worker processes, against a shared
PostgreSQL ledger and an S3 document store, drops and archive; every message sent once."""

from __future__ import annotations

import csv
import io
import os
from collections import Counter

import pytest
from sqlalchemy import select

from flows.monthly_billing import monthly_billing_run
from omnibill import wiring
from omnibill.demo_data import write_demo_extract
from omnibill.ledger.models import Message
from omnibill.store import open_store
from tests.adapters.helpers import create_bucket, moto_s3
from tests.conftest import reset_caches, sandbox_for_test, scratch_database

pytestmark = pytest.mark.slow
PERIOD = "2026-04"


def test_two_worker_processes_share_a_run_and_send_each_message_once(prefect_harness, omnibill_env, monkeypatch,
                                                                    tmp_path):
    from distributed import LocalCluster
    from prefect.settings import get_current_settings

    extract = tmp_path / "extract"
    write_demo_extract(extract, customers=240, period=PERIOD, seed=31)
    with scratch_database() as url, moto_s3() as s3:
        bucket = create_bucket(s3)
        env = {"DATABASE_URL": url, "DOCUMENT_STORE_URL": f"s3://{bucket}/documents",
               "DROPS__PRINT_URL": f"s3://{bucket}/print", "DROPS__EINVOICE_URL": f"s3://{bucket}/einvoice",
               "ARCHIVE_URL": f"s3://{bucket}/archive", "S3__ENDPOINT_URL": s3.endpoint_url,
               "S3__REGION": s3.region, "S3__ACCESS_KEY_ID": "testing", "S3__SECRET_ACCESS_KEY": "testing",
               "BATCH_SIZE": "40"}
        with sandbox_for_test(omnibill_env, monkeypatch, **env) as sandbox:
            # The workers are other processes: they read the same settings and Prefect API from the environment.
            monkeypatch.setenv("PREFECT_API_URL", get_current_settings().api.url)
            with LocalCluster(n_workers=2, threads_per_worker=3, processes=True, dashboard_address=None) as cluster:
                monkeypatch.setenv("OMNIBILL_TASK_RUNNER", cluster.scheduler_address)
                reset_caches()
                summary = wiring.runnable(monthly_billing_run)(tenant="demo", period=PERIOD, source=str(extract))
                workers = set(cluster.workers)
            assert summary["status"] == "complete", summary
            received = (sandbox.ledger.count(unique=False), sandbox.ledger.count(unique=True))
        with wiring.ledger().read() as s:
            claimants = Counter(c.split(":")[1] for c in s.scalars(
                select(Message.claimed_by).where(Message.claimed_by.is_not(None))))
        store = open_store(f"s3://{bucket}/print", wiring.get_settings().s3)
        letters = Counter(row["message_id"] for key in store.keys() if key.endswith(".csv")
                          for row in csv.DictReader(io.StringIO(store.get(key).decode())))
    assert len(workers) == 2
    assert len(claimants) == 2 and str(os.getpid()) not in claimants, claimants  # both workers sent, not we
    assert received[0] == received[1] > 0  # nothing twice at the SMTP and HTTP providers
    assert letters and set(letters.values()) == {1}  # each letter in one print file
