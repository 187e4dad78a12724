"""The short crash trials (bench/crash_trials.py): runs killed with SIGKILL, run again, counted at the providers.

The providers and the Prefect server run in their own processes; only the run is killed. The long
version (20 trials) is in the README's "Never twice, never stranded".
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from config.settings import ProviderLimit
from tests.conftest import REPO

pytestmark = pytest.mark.slow
# Messages in flight at once where a resend cannot be recognised: batches per provider × connections per batch.
CONNECTIONS = ProviderLimit().concurrency * ProviderLimit().connections


def test_killed_runs_lose_nothing_print_nothing_twice_and_repeat_at_most_what_was_in_flight(tmp_path):
    out = subprocess.run([sys.executable, "-m", "bench.crash_trials", "--trials", "3", "--customers", "200",
                          "--seed", "11", "--json", "--keep", str(tmp_path / "trials")],
                         cwd=REPO, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.splitlines()[-1])
    summary, trials = report["summary"], report["trials"]
    assert summary["complete"] == 3 and summary["killed_before_finishing"] >= 2, trials
    assert summary["lost"] == 0 and summary["printed_twice"] == 0 and summary["stranded"] == 0, trials
    for trial in trials:  # e-mail and SMS cannot be recognised when repeated: at most one per connection
        assert all(n <= CONNECTIONS for n in trial["duplicates"].values()), trial
    sent = {c: sum(t["sent"].get(c, 0) for t in trials) for c in ("email", "sms", "mailbox", "print", "einvoice")}
    assert all(sent.values()), sent  # every channel took part
