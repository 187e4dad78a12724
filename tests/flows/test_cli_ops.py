"""The operator's commands under Prefect's test harness: dry run, limits set up, a real run, a rerun."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from omnibill.cli.app import app
from omnibill.demo_data import write_demo_extract
from omnibill.ops.limits import CHANNELS, limit_name, tenant_limit_name

pytestmark = pytest.mark.slow
PERIOD = "2026-09"


def _cli(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, result.output + repr(result.exception)
    return result.output


def test_dry_run_sends_nothing_then_the_real_run_sends_all_under_provider_limits(prefect_harness, omnibill_env,
                                                                                 sandbox, tmp_path):
    from prefect.client.orchestration import get_client

    extract = tmp_path / "extract"
    write_demo_extract(extract, customers=120, period=PERIOD, seed=3)
    out = _cli("run", "--tenant", "demo", "--period", PERIOD, "--source", str(extract), "--dry-run")
    assert "nothing was sent" in out and "print" in out and "total" in out
    assert sandbox.ledger.count() == 0

    names = [limit_name(c) for c in CHANNELS] + [tenant_limit_name("demo")]
    assert all(name in _cli("limits", "setup") for name in names)
    try:
        _cli("run", "--tenant", "demo", "--period", PERIOD, "--source", str(extract))
        status = _cli("status", "--tenant", "demo", "--period", PERIOD)
        assert " planned " not in status and " rendered " not in status and sandbox.ledger.count() > 0
        before = sandbox.ledger.count(unique=False)
        assert "failed_transient 0" in _cli("rerun", "--tenant", "demo", "--period", PERIOD)
        repeats = [(r.channel, r.recipient, r.received_at) for r in sandbox.ledger.list() if r.duplicate_of]
        assert sandbox.ledger.count(unique=False) == before == sandbox.ledger.count(), repeats
        _cli("rerun", "--tenant", "demo", "--period", PERIOD, "--channel", "fax", code=1)
    finally:
        with get_client(sync_client=True) as client:
            for name in names:
                client.delete_global_concurrency_limit_by_name(name)
