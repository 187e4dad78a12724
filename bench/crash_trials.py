"""Crash trials: monthly runs killed with SIGKILL at random moments, run again, counted at the providers.

    python -m bench.crash_trials --trials 20 --customers 400 [--seed 7] [--json] [--keep DIR]

The sandbox providers and a Prefect server run in their own processes, as they would in production;
only the run is killed (its whole process group, as a machine losing power would), never them. Each
trial is its own period: the run is started, killed at a random moment (half the trials at any moment,
half while dispatch is under way), then the same `omnibill run` command is given again until the run
is complete. Then the providers are asked what they received:

- duplicates: deliveries beyond the first of the same message, per channel (the SMTP server and the
  SMS APIs count every copy; Kivra, Digipost and the drops deduplicate, as the real ones do);
- lost: messages the ledger says were sent that no provider has;
- printed twice: letters listed in more than one print manifest;
- stranded: messages not sent, not failed for good and not scheduled when the run says complete.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

from bench.processes import free_port, wait_listening

BIN = Path(sys.executable).parent
LEASE_S = 3  # dispatch claims and run holds of a killed run lapse after this
ATTEMPTS = 3  # runs of one trial at most, while each finished before its kill
DAYTIME = "2026-11-18T10:00:00+01:00"  # outside every quiet hour: nothing is held for the night




class Trials:
    """One work folder, one sandbox process, one Prefect server process, and the trials run against them."""

    def __init__(self, work: Path, customers: int, seed: int):
        from omnibill.sandbox.runner import sandbox_environment

        self.work, self.customers, self.rng = work, customers, random.Random(seed)
        smtp, http, prefect = free_port(), free_port(), free_port()
        self.http = http
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("OMNIBILL_", "PREFECT_"))}
        self.env |= sandbox_environment("127.0.0.1", smtp, http) | {
            "OMNIBILL_DATA_DIR": str(work / "var"), "OMNIBILL_SANDBOX__AUTOSTART": "false",
            "OMNIBILL_SECRET_KEY": "crash-trials-secret", "OMNIBILL_NOW": DAYTIME,
            "OMNIBILL_DISPATCH_LEASE_S": str(LEASE_S), "OMNIBILL_RUN_LEASE_S": str(LEASE_S),
            "OMNIBILL_DISPATCH_RETRY_DELAY_S": "0.2",
            "PREFECT_HOME": str(work / "prefect"), "PREFECT_API_URL": f"http://127.0.0.1:{prefect}/api",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
            "PREFECT_LOGGING_LEVEL": "WARNING"}
        self.log = open(work / "trials.log", "ab")
        self.services = [self._spawn(["sandbox", "--smtp-port", str(smtp), "--http-port", str(http)]),
                         self._spawn(["server", "--port", str(prefect)])]
        for port in (smtp, http, prefect):
            wait_listening(port)
        self._omnibill("db", "upgrade")
        self.duration_s = self._calibrate()

    def _calibrate(self) -> float:
        """How long one uninterrupted run takes here (a period of its own, not counted): kills land within it."""
        extract = self.work / "extract-calibration"
        self._omnibill("demo-data", "--customers", str(self.customers), "--period", "2029-12", "--out", str(extract))
        started = time.monotonic()
        self._omnibill("run", "--tenant", "demo", "--period", "2029-12", "--source", str(extract))
        return time.monotonic() - started

    def _spawn(self, args: list[str]) -> subprocess.Popen:
        return subprocess.Popen([str(BIN / "omnibill"), *args], env=self.env, stdout=self.log, stderr=self.log,
                                start_new_session=True)  # its own process group: killed alone

    def _omnibill(self, *args: str) -> int:
        return subprocess.run([str(BIN / "omnibill"), *args], env=self.env, stdout=self.log, stderr=self.log,
                              timeout=900).returncode

    def close(self) -> None:
        """Stop the services."""
        for proc in self.services:
            _kill(proc, signal.SIGTERM)
        self.log.close()

    def received(self) -> dict[str, dict[str, int]]:
        """What the sandbox providers received so far, per channel: total and unique."""
        return httpx.get(f"http://127.0.0.1:{self.http}/_sandbox/received", timeout=10).json()

    def trial(self, number: int) -> dict:
        """One period: run, kill, run again until complete, count.

        A run that finished before its kill tested nothing (it ran as any uninterrupted run does): the trial is
        made again with a new period and an earlier moment, at most ATTEMPTS times. The report is the last
        attempt's, with how many there were."""
        mode = "during dispatch" if number % 2 else "at any moment"
        for attempt in range(ATTEMPTS):
            result = self._attempt(number, attempt, mode)
            if not result["finished_before_kill"]:
                break
        return result | {"attempts": attempt + 1}

    def _attempt(self, number: int, attempt: int, mode: str) -> dict:
        index = number + 120 * attempt  # a later attempt is the same trial ten years on: a period of its own
        period = f"{2030 + index // 12}-{index % 12 + 1:02d}"
        extract = self.work / f"extract-{period}"
        self._omnibill("demo-data", "--customers", str(self.customers), "--period", period, "--out", str(extract),
                       "--seed", str(number))
        before = self.received()
        run = ["run", "--tenant", "demo", "--period", period, "--source", str(extract)]
        started = time.monotonic()
        proc = self._spawn(run)
        killed_at = self._kill_moment(proc, mode, before, started, earlier=attempt)
        finished_first = proc.poll() is not None
        if finished_first and mode == "at any moment":
            # The run was quicker than the uninterrupted one measured at the start (that one may have shared
            # the cores with other work): later trials pick their moment within this run's time instead.
            self.duration_s = min(self.duration_s, killed_at)
        _kill(proc, signal.SIGKILL)
        time.sleep(LEASE_S + 1)
        codes = []
        for _ in range(4):  # a transient failure or a lapsing hold may need another go
            codes.append(self._omnibill(*run))
            if codes[-1] == 0:
                break
            time.sleep(LEASE_S + 1)
        return {"trial": number, "period": period, "kill": mode, "killed_after_s": round(killed_at, 1),
                "finished_before_kill": finished_first, "reruns": codes} | self._count(period, before)

    def _kill_moment(self, proc: subprocess.Popen, mode: str, before: dict, started: float,
                     earlier: int = 0) -> float:
        """When to kill: at a random moment of the run, or a moment after the providers began receiving;
        `earlier` (a retried trial) halves the window that many times."""
        shrink = 0.5 ** earlier
        if mode == "at any moment":
            deadline = started + self.rng.uniform(0.5, 0.95) * shrink * self.duration_s
        else:  # once the providers have begun receiving, a moment into it
            wait_until = started + 120
            while time.monotonic() < wait_until and proc.poll() is None:
                now = self.received()
                if any(now[c]["total"] > before[c]["total"] for c in now):
                    break
                time.sleep(0.1)
            deadline = time.monotonic() + self.rng.uniform(0.0, 1.5) * shrink
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        return time.monotonic() - started

    def _count(self, period: str, before: dict) -> dict:
        after = self.received()
        sent, stranded, status = _ledger_counts(self.env, period)
        repeated = {c: (after[c]["total"] - before[c]["total"]) - (after[c]["unique"] - before[c]["unique"])
                    for c in after}
        # A repeat reaches the recipient again where the provider cannot recognise it (SMTP, the SMS APIs);
        # the mailbox APIs deduplicate by their key (Kivra's payload, Digipost's message id, an Idempotency-Key).
        duplicates = {c: n for c, n in repeated.items() if c in ("email", "sms")}
        unique = {c: after[c]["unique"] - before[c]["unique"] for c in after}
        lost = {c: max(0, sent.get(c, 0) - unique[c]) for c in after}
        letters = _printed(self.work / "var" / "drops" / "print" / "demo" / period)
        einvoices = len(list((self.work / "var" / "drops" / "einvoice" / "demo" / period).glob("*.xml")))
        lost["print"] = max(0, sent.get("print", 0) - len(letters))
        lost["einvoice"] = max(0, sent.get("einvoice", 0) - einvoices)
        return {"status": status, "sent": dict(sent), "duplicates": duplicates, "repeated_requests": repeated,
                "lost": lost,
                "printed_twice": sum(n - 1 for n in letters.values() if n > 1), "stranded": stranded}


def _ledger_counts(env: dict[str, str], period: str) -> tuple[Counter, int, str]:
    """Messages the ledger says reached their provider, per channel; messages left in between; run status."""
    from omnibill.ledger.db import Ledger
    from omnibill.ledger.reports import message_tallies
    from omnibill.ledger.runs import find_run

    ledger = Ledger(f"sqlite:///{env['OMNIBILL_DATA_DIR']}/omnibill.sqlite")
    try:
        with ledger.read() as session:
            run = find_run(session, "demo", period)
            if run is None:
                return Counter(), 0, "no run"
            rows = [(t[0], t[3], t[4], t[6]) for t in message_tallies(session, run.id)]
            status = run.status
    finally:
        ledger.dispose()
    sent: Counter = Counter()
    stranded = 0
    for channel, state, permanent, n in rows:
        if state in ("sent", "delivered"):
            sent[channel] += n
        elif state in ("sending", "rendered", "planned") or (state == "failed" and not permanent):
            stranded += n
    return sent, stranded, status


def _printed(folder: Path) -> Counter:
    """How many manifests list each letter."""
    letters: Counter = Counter()
    for manifest in folder.glob("batch-*.csv"):
        letters.update(row["message_id"] for row in csv.DictReader(io.StringIO(manifest.read_text())))
    return letters


def _kill(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def summarise(results: list[dict]) -> dict:
    """Totals over the trials."""
    total = lambda key: sum(sum(r[key].values()) for r in results)  # noqa: E731
    return {"trials": len(results), "killed_before_finishing": sum(not r["finished_before_kill"] for r in results),
            "complete": sum(r["status"] == "complete" for r in results),
            "duplicates": {c: sum(r["duplicates"].get(c, 0) for r in results) for c in ("email", "sms")},
            "max_duplicates_per_crash": {c: max((r["duplicates"].get(c, 0) for r in results), default=0)
                                         for c in ("email", "sms")},
            "repeated_requests": {c: sum(r["repeated_requests"].get(c, 0) for r in results)
                                  for c in ("email", "sms", "mailbox")},
            "lost": total("lost"), "printed_twice": sum(r["printed_twice"] for r in results),
            "stranded": sum(r["stranded"] for r in results),
            "messages_sent": total("sent")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print one JSON object (the trials and the totals)")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    args = parser.parse_args(argv)
    work = args.keep or Path(tempfile.mkdtemp(prefix="omnibill-crash-"))
    work.mkdir(parents=True, exist_ok=True)
    trials = Trials(work, args.customers, args.seed)
    results = []
    try:
        for n in range(args.trials):
            results.append(trials.trial(n))
            if not args.json:
                r = results[-1]
                print(f"trial {n + 1}/{args.trials} {r['period']}: killed {r['kill']} after {r['killed_after_s']} s"
                      f"{' (had finished)' if r['finished_before_kill'] else ''}; reruns {r['reruns']}; "
                      f"{r['status']}; sent {sum(r['sent'].values())}; duplicates {r['duplicates']}; "
                      f"lost {sum(r['lost'].values())}; printed twice {r['printed_twice']}; "
                      f"stranded {r['stranded']}", flush=True)
    finally:
        trials.close()
    summary = summarise(results)
    summary["uninterrupted_run_s"] = round(trials.duration_s, 1)
    if args.json:
        print(json.dumps({"trials": results, "summary": summary}))
    else:
        print("summary:", json.dumps(summary))
        print(f"work folder: {work} (log: {work / 'trials.log'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
