"""Two `omnibill run` of the same tenant and period started at the same moment ("never twice, never stranded").

The sandbox providers live in the pytest process, apart from both runs; each run is its own process with
its own Prefect ephemeral server. The ledger lets one run hold the period: the other is refused (exit 4,
"is active") or, if it only starts after the first finished, finds nothing left to send. Either way every
message reaches its provider once, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from omnibill.demo_data import write_demo_extract
from tests.conftest import REPO, reset_caches, sandbox_for_test, upgrade_database
from tests.integration.test_run_end_to_end import _received

pytestmark = pytest.mark.slow
PERIOD = "2026-11"
CHANNELS = ("email", "sms", "mailbox")


def _child_env(prefect_home: Path) -> dict[str, str]:
    """The test's environment (OMNIBILL_* included) with a Prefect home of its own and no API URL."""
    env = dict(os.environ)
    env.pop("PREFECT_API_URL", None)
    prefect_home.mkdir(parents=True)
    # Two ephemeral servers start at once, beside the other tests (pytest-xdist): more than Prefect's 20 s default.
    return env | {"PREFECT_HOME": str(prefect_home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                  "DO_NOT_TRACK": "1", "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120"}


def _start(name: str, extract: Path, tmp_path: Path) -> tuple[subprocess.Popen, Path, Path]:
    """Start one `omnibill run` with its stdout and stderr going to files."""
    out, err = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen([str(REPO / ".venv/bin/omnibill"), "run", "--tenant", "demo", "--period", PERIOD,
                                 "--source", str(extract)], cwd=REPO, env=_child_env(tmp_path / f"prefect-{name}"),
                                stdout=stdout, stderr=stderr)
    return proc, out, err


def _report(runs: dict[str, tuple[subprocess.Popen, Path, Path]]) -> str:
    """Exit code, stdout and stderr (tails) of every run, for assertion messages."""
    return "\n".join(f"--- run {name}: exit {proc.returncode}\nstdout:\n{out.read_text()[-3000:]}\n"
                     f"stderr:\n{err.read_text()[-3000:]}" for name, (proc, out, err) in runs.items())


def _sent_per_channel() -> Counter:
    """Messages the ledger holds as sent or delivered, per channel (primary and companion kinds alike)."""
    from omnibill import wiring
    from omnibill.reconcile.status import status_rows

    reset_caches()
    run_ = wiring.run_of("demo", PERIOD)
    with wiring.ledger().transaction() as session:
        rows = status_rows(session, run_)
    return Counter(r["channel"] for r in rows if r["state"] in ("sent", "delivered"))


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_two_simultaneous_runs_deliver_each_message_once(database, request, omnibill_env, monkeypatch, tmp_path):
    if database == "postgresql":  # the fixture made and migrated a scratch database
        monkeypatch.setenv("OMNIBILL_DATABASE_URL", request.getfixturevalue("postgres_url"))
    extract = tmp_path / "extract"
    write_demo_extract(extract, customers=150, period=PERIOD, seed=7)

    with sandbox_for_test(omnibill_env, monkeypatch, NOW="2026-11-18T11:00:00+00:00", BATCH_SIZE="50",
                          RENDER_WORKERS="1") as box:
        if database == "sqlite":  # what `omnibill db upgrade` does, so both runs find the schema ready
            from config.settings import get_settings

            upgrade_database(get_settings().resolved_database_url())
        runs = {name: _start(name, extract, tmp_path) for name in ("a", "b")}
        for name, (proc, _, _) in runs.items():
            try:
                proc.wait(timeout=300)
            except subprocess.TimeoutExpired:
                for other, _, _ in runs.values():
                    other.kill()
                    other.wait()
                pytest.fail(f"run {name} still running after 300 s\n{_report(runs)}")
        report = _report(runs)
        codes = [proc.returncode for proc, _, _ in runs.values()]
        assert set(codes) <= {0, 4} and 0 in codes, report
        for proc, _, err in runs.values():
            if proc.returncode == 4:
                assert "is active" in err.read_text(), report

        received = {c: (box.ledger.count(c, unique=True), box.ledger.count(c, unique=False)) for c in CHANNELS}
        sent = _sent_per_channel()
        assert all(unique == total for unique, total in received.values()), f"{received}\n{report}"
        assert {c: total for c, (_, total) in received.items()} == {c: sent[c] for c in CHANNELS}, \
            f"providers {received}, ledger {dict(sent)}\n{report}"
        assert sum(total for _, total in received.values()) > 0, report

    drops = _received(omnibill_env)
    assert all(unique == total for unique, total in drops.values()), f"{drops}\n{report}"
    assert {c: drops[c][1] for c in ("print", "einvoice")} == {c: sent[c] for c in ("print", "einvoice")}, \
        f"drops {drops}, ledger {dict(sent)}\n{report}"
