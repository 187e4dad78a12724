"""Benchmark: N customers end to end, documents/s per stage and peak memory.

    python -m bench.run --customers 10000 [--flow]

Runs each stage's plain function in order against a fresh ledger and sandbox (no Prefect
overhead), then, with --flow, the same extract again through the Prefect flow as a whole.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path


def _peak_mb() -> tuple[float, float]:
    from omnibill.render import stage as rendering

    if rendering._pool is not None:  # children count only once they have exited
        rendering._pool.shutdown(wait=True)
        rendering._pool = None
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def _configure(workdir: Path) -> None:
    os.environ["OMNIBILL_DATA_DIR"] = str(workdir / "var")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")


def run_stages(tenant: str, period: str, source: str) -> list[tuple[str, int, float]]:
    """Run every stage's entry point once, timing each; returns (stage, documents, seconds)."""
    from omnibill import wiring
    from omnibill.decide.stage import run_decide
    from omnibill.dispatch.stage import BatchHadTransientFailures, batches_to_send, run_dispatch
    from omnibill.extract.stage import run_extract
    from omnibill.reconcile.stage import run_reconcile
    from omnibill.render.stage import run_render
    from omnibill.sandbox.autostart import sandbox_for_run

    settings, ledger, rules = wiring.get_settings(), wiring.ledger(), wiring.tenant_rules(tenant)
    timings: list[tuple[str, int, float]] = []

    with sandbox_for_run(settings):  # the mailbox usermatch answers the decide stage
        t = time.perf_counter()
        summary = run_extract(ledger, tenant, period, source, batch_size=settings.batch_size, s3=settings.s3)
        run = wiring.run_of(tenant, period)
        docs = summary.documents
        timings.append(("extract", summary.invoice_rows, time.perf_counter() - t))

        t = time.perf_counter()
        for b in summary.batches:
            run_decide(ledger, run, b, rules, hash_key=wiring.hash_key(tenant), now=wiring.now())
        timings.append(("decide", docs, time.perf_counter() - t))

        t = time.perf_counter()
        for b in summary.batches:
            run_render(ledger, run, b, rules.senders_by_country(), settings.resolved_store_url(), settings.s3,
                       settings.render_workers)
        timings.append(("render", docs, time.perf_counter() - t))

        t = time.perf_counter()
        for channel, b in batches_to_send(ledger, run):
            adapter = wiring.adapter(channel, tenant=run.tenant)
            try:
                run_dispatch(ledger, run, channel, b, adapter, wiring.document_store(), rules=rules,
                             now=wiring.now())
            except BatchHadTransientFailures:
                pass
            finally:
                adapter.close()
        timings.append(("dispatch", docs, time.perf_counter() - t))

    t = time.perf_counter()
    rec = run_reconcile(ledger, run, summary.invoice_rows)
    timings.append(("reconcile", docs, time.perf_counter() - t))
    print(f"balanced: {rec.balanced}; outcome: {rec.outcome}; quarantined {rec.quarantined}, "
          f"unreachable {rec.unreachable}")
    return timings


def main() -> None:
    """Parse arguments, make the data, run, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--period", default="2026-11")
    parser.add_argument("--flow", action="store_true", help="also run the whole Prefect flow on a fresh ledger")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="omnibill-bench-"))
    _configure(workdir)
    from omnibill.demo_data import write_demo_extract

    t = time.perf_counter()
    write_demo_extract(workdir / "extract", customers=args.customers, period=args.period)
    print(f"demo data: {args.customers} customers in {time.perf_counter() - t:.1f} s")
    timings = run_stages("demo", args.period, str(workdir / "extract"))
    total = sum(s for _, _, s in timings)
    print(f"\n{'stage':<10}{'documents':>10}{'seconds':>10}{'docs/s':>10}")
    for stage, n, secs in timings:
        print(f"{stage:<10}{n:>10}{secs:>10.2f}{n / secs if secs else 0:>10.0f}")
    print(f"{'total':<10}{timings[0][1]:>10}{total:>10.2f}{timings[0][1] / total:>10.0f}")
    own, children = _peak_mb()
    print(f"peak RSS: main process {own:.0f} MB, largest render worker {children:.0f} MB")
    if args.flow:
        _run_flow(workdir, args.period)
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"work folder kept: {workdir}")


def _run_flow(workdir: Path, period: str) -> None:
    os.environ["OMNIBILL_DATA_DIR"] = str(workdir / "var-flow")
    from config.settings import get_settings

    get_settings.cache_clear()
    from flows.monthly_billing import monthly_billing_run
    from omnibill.sandbox.autostart import sandbox_for_run

    t = time.perf_counter()
    with sandbox_for_run(get_settings()):
        monthly_billing_run(tenant="demo", period=period, source=str(workdir / "extract"))
    print(f"whole Prefect flow (incl. local server start): {time.perf_counter() - t:.1f} s")


if __name__ == "__main__":
    main()
