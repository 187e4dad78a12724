"""Benchmark: the portal's document page with 100,000 messages in the ledger, idle and while a run writes.

    python -m bench.portal [--documents 100000] [--requests 2000] [--clients 8] [--workers 1]
                           [--keep]

Fills a scratch SQLite ledger with a year of monthly runs of the demo tenant (documents copied from a
small demo extract, one primary message each; the newest run is still going on), starts `omnibill portal`
in its own process on it, and sends GETs of random document links with a phone browser's User-Agent
(so most of them are first opens: a read receipt is written) from a few concurrent clients: first with
the ledger idle, then while a writer process moves the running period's messages
rendered → sending → sent in chunks of 500, as the dispatch stage does (as fast as it can: a worst case),
then the already opened pages again, and once more idle after the writer stopped. Prints p50/p95/p99
latency and requests/s of each phase. The goal of issue 10: p95 under 50 ms with a run going on.
Asserts nothing. The load generator runs on the same machine: on few cores it competes with the portal.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import multiprocessing
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta, timezone, datetime
from pathlib import Path

import httpx

from bench.processes import free_port

REPO = Path(__file__).resolve().parents[1]
TENANT = "demo"
SECRET = "bench secret, not a real one"
BROWSER_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
              "Version/17.5 Mobile/15E148 Safari/604.1")
CHANNELS = ("email", "sms", "print", "mailbox", "einvoice")


def _environment(workdir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIBILL_")}
    return env | {
        "OMNIBILL_DATA_DIR": str(workdir / "var"),
        "OMNIBILL_DATABASE_URL": f"sqlite:///{workdir / 'var' / 'omnibill.sqlite'}",
        "OMNIBILL_SECRET_KEY": SECRET, "OMNIBILL_TENANTS_DIR": str(REPO / "config" / "tenants"),
        "OMNIBILL_PORTAL__RATE_LIMIT": "10000000/minute", "OMNIBILL_PORTAL__PORT": str(port),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}


def _months(last: str, count: int) -> list[str]:
    year, month = map(int, last.split("-"))
    out = []
    for _ in range(count):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out[::-1]


def fill(workdir: Path, documents: int, months: int, last_period: str) -> tuple[list[tuple[str, date]], list[str]]:
    """The scratch ledger: `months` runs, documents spread over them; returns the documents' (id, issue
    date) and the message ids of the newest (running) period."""
    from omnibill import wiring
    from omnibill.demo_data import write_demo_extract
    from omnibill.extract import read_extract
    from omnibill.ledger.codec import document_payload, party_to_json
    from omnibill.ledger.models import Customer, Document, Message
    from omnibill.ledger.repository import insert_ignore
    from omnibill.ledger.runs import finish_run, open_run
    from omnibill.model import stable_id

    write_demo_extract(workdir / "extract", customers=300, period=last_period, seed=3)
    extract = read_extract(str(workdir / "extract"), TENANT, last_period)
    templates = [d for d in extract.documents if d.document_type in ("invoice", "credit_note", "reminder")]
    ledger = wiring.ledger()
    periods = _months(last_period, months)
    per_period = -(-documents // months)
    customers = per_period  # one document per customer and month: each has a year of history
    links: list[tuple[str, date]] = []
    running: list[str] = []
    now = datetime.now(timezone.utc)
    for n, period in enumerate(periods):
        issued = date.fromisoformat(period + "-01")
        with ledger.transaction() as session:
            run = open_run(session, TENANT, period, "bench")
            run_id = run.id
        customer_rows, document_rows, message_rows = [], [], []
        for i in range(min(per_period, documents - n * per_period)):
            template = templates[i % len(templates)]
            cid = f"B{i % customers:07d}"
            party = dataclasses.replace(template.customer, customer_id=cid)
            if i < customers:
                customer_rows.append({"id": stable_id("customer", run_id, cid), "run_id": run_id, "customer_id": cid,
                                      "data": party_to_json(party), "consents": {}})
            doc_id = stable_id("bench-document", period, str(i))
            channel = CHANNELS[i % len(CHANNELS)]
            document_rows.append({
                "id": doc_id, "run_id": run_id, "invoice_id": f"INV-{period.replace('-', '')}-{i:06d}",
                "customer_id": cid, "document_type": template.document_type, "currency": template.currency,
                "total_excl_vat": template.total_excl_vat, "vat_amount": template.vat_amount,
                "total_incl_vat": template.total_incl_vat, "issue_date": issued, "due_date": issued + timedelta(30),
                "payment_reference": template.payment_reference, "batch_no": i // 1000,
                "data": document_payload(template) | {"period": period}, "decision": channel,
                "decision_reason": "bench", "decided_at": now})
            last = n == months - 1
            message_id = stable_id("bench-message", doc_id)
            message_rows.append({
                "id": message_id, "run_id": run_id, "document_id": doc_id, "channel": channel,
                "batch_no": i // 1000, "state": "rendered" if last else "sent", "attempts": 0 if last else 1,
                "kind": "primary", "content": {}, "created_at": now, "updated_at": now})
            links.append((doc_id, issued))
            if last:
                running.append(message_id)
        with ledger.transaction() as session:
            insert_ignore(session, Customer, customer_rows)
            insert_ignore(session, Document, document_rows)
            insert_ignore(session, Message, message_rows)
            if period != periods[-1]:  # the older runs are over; the newest is still going on
                finish_run(session, run_id, {}, "complete")
        print(f"  {period}: {len(document_rows):,} documents and messages", flush=True)
    return links, running


def writer(message_ids: list[str], chunk: int, stop, moved) -> None:
    """A run's dispatch, simulated: chunks of messages rendered → sending → sent, and round again."""
    from omnibill import wiring
    from omnibill.ledger.repository import set_states

    ledger = wiring.ledger()
    steps = (("rendered", "sending"), ("sending", "sent"), ("sent", "rendered"))
    while not stop.is_set():
        for start in range(0, len(message_ids), chunk):
            part = message_ids[start:start + chunk]
            for before, after in steps:
                if stop.is_set():
                    return
                with ledger.transaction() as session:
                    done = set_states(session, [{"id": m, "from_state": before, "state": after, "reason": "bench"}
                                                for m in part])
                with moved.get_lock():
                    moved.value += len(done)


async def _load(base: str, paths: list[str], clients: int) -> tuple[list[float], int, float]:
    """GET every path from `clients` concurrent clients; returns latencies (s), errors, wall time."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for p in paths:
        queue.put_nowait(p)
    latencies: list[float] = []
    errors = 0

    async def client() -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=base, headers={"User-Agent": BROWSER_UA}, timeout=60) as http:
            while not queue.empty():
                path = queue.get_nowait()
                t = time.perf_counter()
                response = await http.get(path)
                latencies.append(time.perf_counter() - t)
                if response.status_code != 200:
                    errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies, errors, time.perf_counter() - started


def _report(name: str, latencies: list[float], errors: int, wall: float, extra: str = "") -> None:
    ms = sorted(x * 1000 for x in latencies)
    q = statistics.quantiles(ms, n=100, method="inclusive")
    print(f"{name:<24} {len(ms):>6} {errors:>6} {len(ms) / wall:>8.1f} {q[49]:>8.1f} {q[94]:>8.1f} {q[98]:>8.1f}"
          f" {ms[-1]:>8.1f}  {extra}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=100_000, help="documents (one message each) in the ledger")
    parser.add_argument("--months", type=int, default=12, help="monthly runs they are spread over")
    parser.add_argument("--requests", type=int, default=2000, help="measured GETs per phase")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--chunk", type=int, default=500, help="messages per state change of the writer")
    parser.add_argument("--period", default="2026-11", help="the running (newest) period")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes of the portal")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="omnibill-bench-portal-"))
    port = free_port()
    env = _environment(workdir, port)
    os.environ.clear()
    os.environ.update(env)
    portal = None
    try:
        t = time.perf_counter()
        print(f"filling {workdir} with {args.documents:,} documents over {args.months} months …", flush=True)
        links, running = fill(workdir, args.documents, args.months, args.period)
        size = (workdir / "var" / "omnibill.sqlite").stat().st_size / 1e6
        print(f"filled in {time.perf_counter() - t:.1f} s: ledger {size:.0f} MB, {len(running):,} messages "
              f"in the running period", flush=True)

        from omnibill import wiring

        signer = wiring.link_signer(TENANT)
        omnibill = Path(sys.executable).with_name("omnibill")
        portal = subprocess.Popen([str(omnibill), "portal", "--port", str(port), "--workers", str(args.workers)],
                                  env=env, cwd=REPO,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if portal.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the portal did not start")
            time.sleep(0.2)

        rng = random.Random(10)
        warmup = 500
        picked = rng.sample(links, min(len(links), 3 * args.requests + warmup))
        paths = [f"/d/{signer.token(doc_id, issued)}" for doc_id, issued in picked]
        warm, paths = paths[:warmup], paths[warmup:]
        idle, busy, after = (paths[i * args.requests:(i + 1) * args.requests] for i in range(3))

        asyncio.run(_load(base, warm, args.clients))  # imports, first connections, SQLite page cache
        print(f"\nportal pid {portal.pid} ({args.workers} worker(s)), {args.clients} clients, "
              f"GET /d/<random token> as a phone browser")
        print(f"{'phase':<24} {'reqs':>6} {'errors':>6} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}"
              f" {'max ms':>8}")
        latencies, errors, wall = asyncio.run(_load(base, idle, args.clients))
        _report("idle ledger", latencies, errors, wall)

        context = multiprocessing.get_context("spawn")
        stop, moved = context.Event(), context.Value("q", 0)
        process = context.Process(target=writer, args=(running, args.chunk, stop, moved), daemon=True)
        process.start()
        time.sleep(2.0)  # the writer is under way
        before, t = moved.value, time.perf_counter()
        latencies, errors, wall = asyncio.run(_load(base, busy, args.clients))
        rate = (moved.value - before) / (time.perf_counter() - t)
        _report("run going on (writer)", latencies, errors, wall, f"writer: {rate:,.0f} state changes/s")
        # the same pages as in the idle phase again: opened already, so nothing to write but the run's changes
        before, t = moved.value, time.perf_counter()
        latencies, errors, wall = asyncio.run(_load(base, idle, args.clients))
        rate = (moved.value - before) / (time.perf_counter() - t)
        _report("  same, opened pages", latencies, errors, wall, f"writer: {rate:,.0f} state changes/s")
        stop.set()
        process.join(30)
        latencies, errors, wall = asyncio.run(_load(base, after, args.clients))
        _report("idle again (run over)", latencies, errors, wall)
    finally:
        if portal is not None:
            portal.terminate()
            try:
                portal.wait(15)
            except subprocess.TimeoutExpired:
                portal.kill()
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
