"""Benchmark: one run of N customers, as plain stage functions and as the Prefect flow.

    python -m bench.run --customers 10000 [--database postgresql] [--no-stages] [--no-flow] [--keep]

The sandbox providers and a Prefect server run in processes of their own (started here), as in
production, so they neither share the run's process nor die with it. Then, on the same extract:

1. the stage functions, one after the other, in a child process (no Prefect): documents/s per stage;
2. the Prefect flow (`omnibill run`) on a fresh ledger: documents/s end to end, how long render and
   dispatch ran at the same time, and the flow's time against the stage functions' (Prefect + ledger
   overhead, and what the overlap of stages wins back).

The peak memory (resident set) of every process is sampled from /proc: the run, its render workers,
the sandbox, the Prefect server.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.processes import free_port, wait_listening

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]
DAYTIME = "2026-11-18T10:00:00+01:00"  # outside every quiet hour: everything is sent, nothing scheduled




class PeakMemory:
    """Samples the resident set of a process and its descendants every second; keeps each one's peak.

    The peak is the kernel's own high-water mark (VmHWM), so a second between samples loses no peak; only a
    child that ends within a second of starting may be missed. Each sample walks /proc to find the children,
    which at 5 samples a second took ~8 % of a core beside the run it measures.
    """

    def __init__(self, label: str, pid: int):
        self.label, self.pid, self.peaks = label, pid, {}
        self.minutes: list[int] = []  # the main process's largest resident set in each minute (kB)
        self._began = time.perf_counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            for pid, name in _tree(self.pid):
                rss = _status_kb(pid, "VmHWM") or _status_kb(pid, "VmRSS")
                if rss:
                    key = "main" if pid == self.pid else name
                    self.peaks[key] = max(self.peaks.get(key, 0), rss)
                if pid == self.pid:
                    minute = int((time.perf_counter() - self._began) // 60)
                    self.minutes.extend([0] * (minute + 1 - len(self.minutes)))
                    self.minutes[minute] = max(self.minutes[minute], _status_kb(pid, "VmRSS") or 0)
            self._stop.wait(1.0)

    def timeline(self) -> str:
        """The main process's resident set minute by minute (MB), for where memory grows in a run."""
        return " ".join(str(round(kb / 1024)) for kb in self.minutes)

    def stop(self) -> dict[str, float]:
        """Peak MB per process kind (children of the same kind: the largest)."""
        self._stop.set()
        self._thread.join()
        return {k: round(v / 1024) for k, v in self.peaks.items()}


def _processes() -> dict[int, tuple[str, list[str]]]:
    """Every process: pid -> (name, the fields of /proc/<pid>/stat after the name: state, ppid, … utime(11),
    stime(12), cutime(13), cstime(14))."""
    found = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as file:
                    head, _, rest = file.read().decode(errors="replace").rpartition(")")
            except OSError:
                continue
            found[int(name)] = (head[head.index("(") + 1:], rest.split())
    return found


def _tree(root: int, processes: dict[int, tuple[str, list[str]]] | None = None) -> list[tuple[int, str]]:
    processes = _processes() if processes is None else processes
    children: dict[int, list[int]] = {}
    for pid, (_, fields) in processes.items():
        children.setdefault(int(fields[1]), []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append((pid, processes[pid][0] if pid in processes else "?"))
        todo.extend(children.get(pid, []))
    return found


def _tree_cpu_s(root: int) -> float:
    """CPU seconds used by a running process and its live descendants (user + system)."""
    processes = _processes()
    ticks = sum(int(processes[pid][1][11]) + int(processes[pid][1][12])  # utime, stime
                for pid, _ in _tree(root, processes) if pid in processes)
    return ticks / os.sysconf("SC_CLK_TCK")


def _postgres_cpu_s() -> float | None:
    """CPU seconds of the local PostgreSQL server so far: its postmaster with the backends it has reaped, and the
    live ones (every database's; on this machine the ledger's). None when no postmaster runs here."""
    stats = {pid: fields for pid, (name, fields) in _processes().items() if name == "postgres"}
    postmasters = [pid for pid, fields in stats.items() if int(fields[1]) not in stats]
    if not postmasters:
        return None
    total = sum(int(f[11]) + int(f[12]) for f in stats.values())
    total += sum(int(stats[pid][13]) + int(stats[pid][14]) for pid in postmasters)
    return total / os.sysconf("SC_CLK_TCK")


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _task_spans(api_url: str, flow_name: str) -> dict[str, list[tuple[float, float]]]:
    """Start and end (epoch s) of every task run of the latest flow run, by task kind (render, dispatch, …)."""
    import httpx

    runs = httpx.post(f"{api_url}/flow_runs/filter", json={"sort": "START_TIME_DESC", "limit": 1,
                                                             "flow_runs": {"name": {"any_": [flow_name]}}}).json()
    spans: dict[str, list[tuple[float, float]]] = {"decide": [], "render": [], "dispatch": []}
    from datetime import datetime

    if not runs:
        return spans
    offset = 0
    while True:
        page = httpx.post(f"{api_url}/task_runs/filter", json={
            "flow_runs": {"id": {"any_": [runs[0]["id"]]}}, "limit": 200, "offset": offset}).json()
        for t in page:
            name = t["name"]  # receipts by channel (the channels' tasks run at once)
            kind = name.split(" ")[0] if name.startswith("receipts[") else name.split("[")[0].split(" ")[0].split("-")[0]
            if t.get("start_time") and t.get("end_time"):
                spans.setdefault(kind, []).append((datetime.fromisoformat(t["start_time"]).timestamp(),
                                    datetime.fromisoformat(t["end_time"]).timestamp()))
        if len(page) < 200:
            return spans
        offset += 200


def _covered(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[list[float]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]


def overlap_s(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    """Seconds during which something of `a` and something of `b` ran at once."""
    return sum(max(0.0, min(x2, y2) - max(x1, y1)) for x1, x2 in _covered(a) for y1, y2 in _covered(b))


def _stages_child(tenant: str, period: str, source: str) -> None:
    """In the child process: each stage function in turn; prints JSON timings."""
    from config.channels import RECEIPT_CHANNELS
    from omnibill import wiring
    from omnibill.decide.stage import run_decide
    from omnibill.dispatch.pacing import PacedAdapter
    from omnibill.dispatch.stage import BatchHadTransientFailures, batches_to_send, run_dispatch
    from omnibill.extract.stage import run_extract
    from omnibill.reconcile.stage import run_reconcile
    from omnibill.archive.archive import archive_run
    from omnibill.proof.stage import run_proof
    from omnibill.receipts.stage import run_receipts
    from omnibill.render.stage import run_render
    from omnibill.store import open_store

    settings, ledger, rules = wiring.get_settings(), wiring.ledger(), wiring.tenant_rules(tenant)
    timings: list[tuple[str, int, float]] = []
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
                   wiring.render_processes(settings), links=wiring.link_signer(tenant))
    timings.append(("render", docs, time.perf_counter() - t))
    t = time.perf_counter()
    for channel, b in batches_to_send(ledger, run):
        limit = settings.limits.of(channel)
        adapter = PacedAdapter(wiring.adapter(channel, tenant=tenant, connections=limit.connections),
                               limit.rate_per_s)
        try:
            run_dispatch(ledger, run, channel, b, adapter, wiring.document_store(), rules=rules, now=wiring.now())
        except BatchHadTransientFailures:
            pass
        finally:
            adapter.close()
    timings.append(("dispatch", docs, time.perf_counter() - t))
    for channel in RECEIPT_CHANNELS:  # as the flow does after a round: what the providers reported
        t = time.perf_counter()
        source = wiring.adapter(channel, tenant=tenant)
        try:
            run_receipts(ledger, run, source)
        finally:
            source.close()
        timings.append((f"receipts[{channel}]", docs, time.perf_counter() - t))
    t = time.perf_counter()  # what the flow does beside: the proof page and the PDF/A archive
    run_proof(ledger, run, rules, wiring.document_store(), settings.validation_dir)
    timings.append(("proof", docs, time.perf_counter() - t))
    t = time.perf_counter()
    for b in summary.batches:  # as the flow does: each batch, in the render processes
        archive_run(ledger, run, wiring.document_store(), open_store(settings.resolved_archive_url(), settings.s3),
                    rules, b, workers=wiring.render_processes(settings))
    timings.append(("archive", docs, time.perf_counter() - t))
    t = time.perf_counter()
    rec = run_reconcile(ledger, run, summary.invoice_rows)
    timings.append(("reconcile", docs, time.perf_counter() - t))
    print(json.dumps({"timings": timings, "balanced": rec.balanced, "outcome": rec.outcome}))


class Bench:
    """The work folder, the environment, and the sandbox and Prefect server processes."""

    def __init__(self, work: Path, database: str):
        from omnibill.sandbox.runner import sandbox_environment

        self.work, self.timelines = work, {}
        smtp, http, self.prefect_port = free_port(), free_port(), free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("OMNIBILL_", "PREFECT_"))}
        self.env |= sandbox_environment("127.0.0.1", smtp, http) | {
            "OMNIBILL_SANDBOX__AUTOSTART": "false", "OMNIBILL_NOW": DAYTIME, "OMNIBILL_SECRET_KEY": "bench-secret",
            "PREFECT_HOME": str(work / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
            "PREFECT_API_URL": f"http://127.0.0.1:{self.prefect_port}/api", "PREFECT_LOGGING_LEVEL": "INFO"}
        self.database = database
        self.log = open(work / "bench.log", "ab")
        self.sandbox = self._spawn(["sandbox", "--smtp-port", str(smtp), "--http-port", str(http)],
                                   {"OMNIBILL_DATA_DIR": str(work / "providers")})
        self.server = self._spawn(["server", "--port", str(self.prefect_port)], {})
        self.sandbox_peak = PeakMemory("sandbox", self.sandbox.pid)
        self.server_peak = PeakMemory("prefect server", self.server.pid)
        for port in (smtp, http, self.prefect_port):
            wait_listening(port)

    def _spawn(self, args: list[str], env: dict[str, str], binary: str = "omnibill") -> subprocess.Popen:
        return subprocess.Popen([str(BIN / binary), *args], env=self.env | env, stdout=self.log, stderr=self.log,
                                start_new_session=True)

    def ledger_env(self, name: str) -> dict[str, str]:
        """A fresh ledger (SQLite file, or a new PostgreSQL database) and data folder for one pass."""
        env = {"OMNIBILL_DATA_DIR": str(self.work / name)}
        if self.database == "postgresql":
            from omnibill.ledger.db import fresh_database

            env["OMNIBILL_DATABASE_URL"] = fresh_database("postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                                                          f"omnibill_bench_{name}_{os.getpid()}")
        subprocess.run([str(BIN / "omnibill"), "db", "upgrade"], env=self.env | env, stdout=self.log,
                       stderr=self.log, check=True)
        return env

    def timed(self, args: list[str], env: dict[str, str], binary: str = "omnibill") -> tuple[float, dict, str]:
        """Run a child to the end: seconds, peak memory of its process tree, what it printed.

        Also keeps `self.cpu`: CPU seconds of the child's tree, the sandbox's and the Prefect server's meanwhile."""
        t, before = time.perf_counter(), self._cpu_now()
        proc = subprocess.Popen([str(BIN / binary), *args], env=self.env | env, stdout=subprocess.PIPE,
                                stderr=self.log, start_new_session=True, cwd=REPO)
        peak = PeakMemory(args[0], proc.pid)
        out, _ = proc.communicate()
        self.cpu = {k: v - before[k] for k, v in self._cpu_now().items()}
        found = peak.stop()
        self.timelines[" ".join(args[:3] if args[0] == "-m" else args[:1])] = peak.timeline()
        return time.perf_counter() - t, found, out.decode()

    def _cpu_now(self) -> dict[str, float]:
        """CPU seconds so far: of waited-for children (the timed run and its processes), sandbox, server, and the
        PostgreSQL server when it holds the ledger (it shares the machine's cores with the run)."""
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        found = {"run": children.ru_utime + children.ru_stime,
                 "sandbox": _tree_cpu_s(self.sandbox.pid), "prefect server": _tree_cpu_s(self.server.pid)}
        if self.database == "postgresql" and (postgres := _postgres_cpu_s()) is not None:
            found["postgresql"] = postgres
        return found

    def close(self) -> dict[str, dict]:
        peaks = {"sandbox": self.sandbox_peak.stop(), "prefect server": self.server_peak.stop()}
        for proc in (self.sandbox, self.server):
            os.killpg(proc.pid, 15)
            proc.wait(30)
        self.log.close()
        return peaks


def main() -> None:
    """Parse arguments, make the data, run both passes, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--period", default="2026-11")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--no-stages", action="store_true", help="skip the stage functions' pass")
    parser.add_argument("--no-flow", action="store_true", help="skip the Prefect flow's pass")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--stages-child", nargs=3, metavar=("TENANT", "PERIOD", "SOURCE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stages_child:
        _stages_child(*args.stages_child)
        return

    work = Path(tempfile.mkdtemp(prefix="omnibill-bench-"))
    extract = work / "extract"
    t = time.perf_counter()
    subprocess.run([str(BIN / "omnibill"), "demo-data", "--customers", str(args.customers), "--period", args.period,
                    "--out", str(extract)], check=True, capture_output=True)
    print(f"demo data: {args.customers} customers in {time.perf_counter() - t:.1f} s; ledger on {args.database}; "
          f"{os.cpu_count()} cores")
    bench = Bench(work, args.database)
    peaks: dict[str, dict] = {}
    stages_s = flow_s = 0.0
    docs = 0
    try:
        if not args.no_stages:
            secs, peaks["stage functions"], out = bench.timed(
                ["-m", "bench.run", "--stages-child", "demo", args.period, str(extract)], bench.ledger_env("stages"),
                binary="python")
            result = json.loads(out.strip().splitlines()[-1])
            timings = result["timings"]
            stages_s, docs = sum(s for _, _, s in timings), timings[1][1]
            print(f"\nstage functions, one after the other (no Prefect): balanced {result['balanced']}")
            print(f"{'stage':<20}{'documents':>10}{'seconds':>10}{'docs/s':>10}")
            for stage, n, s in timings:
                print(f"{stage:<20}{n:>10}{s:>10.2f}{n / s if s else 0:>10.0f}")
            print(f"{'total':<20}{docs:>10}{stages_s:>10.2f}{docs / stages_s:>10.0f}")
            print(_cpu_line(bench.cpu, docs, secs))
        if not args.no_flow:
            env = bench.ledger_env("flow")
            flow_s, peaks["flow run"], _ = bench.timed(
                ["run", "--tenant", "demo", "--period", args.period, "--source", str(extract)], env)
            spans = _task_spans(f"http://127.0.0.1:{bench.prefect_port}/api", f"demo {args.period}")
            render = _covered(spans["render"])
            dispatch = _covered(spans["dispatch"])
            both = overlap_s(spans["render"], spans["dispatch"])
            render_s = sum(b - a for a, b in render)
            dispatch_s = sum(b - a for a, b in dispatch)
            docs = docs or _documents(bench.env | env, args.period)
            print(f"\nPrefect flow (`omnibill run`, server already up): {flow_s:.1f} s, {docs / flow_s:.0f} docs/s "
                  "end to end")
            print(f"render ran {render_s:.1f} s, dispatch {dispatch_s:.1f} s, both at once {both:.1f} s "
                  f"({both / min(render_s, dispatch_s) if min(render_s, dispatch_s) else 0:.0%} of the shorter)")
            decide_s = sum(b - a for a, b in _covered(spans["decide"]))
            print(f"decide ran {decide_s:.1f} s, {overlap_s(spans['decide'], spans['render']):.1f} s of it beside render "
                  "(a batch renders once it is decided)")
            print(_cpu_line(bench.cpu, docs, flow_s))
            print("where the flow's time went (seconds during which a task of the kind ran):")
            print("  " + ", ".join(f"{kind} {sum(b - a for a, b in _covered(found)):.1f}"
                                   for kind, found in sorted(spans.items(), key=lambda kv: kv[0]) if found))
            if stages_s:
                print(f"flow against the stage functions: {flow_s / stages_s - 1:+.0%} "
                      f"({flow_s:.1f} s against {stages_s:.1f} s; the flow overlaps stages, the functions do not)")
    finally:
        peaks |= bench.close()
    print("\npeak memory (resident, MB), per process:")
    for where, found in peaks.items():
        print(f"  {where:<16} " + ", ".join(f"{k} {v}" for k, v in sorted(found.items(), key=lambda kv: -kv[1])[:5]))
    for child, line in bench.timelines.items():
        print(f"  main process of `{child}`, resident set minute by minute (MB): {line}")
    if args.keep:
        print(f"work folder kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


def _cpu_line(cpu: dict[str, float], docs: int, seconds: float) -> str:
    """CPU seconds per process and per document, and how busy the cores were."""
    total = sum(cpu.values())
    return (f"CPU: {', '.join(f'{k} {v:.1f} s' for k, v in cpu.items())}; {total / max(docs, 1) * 1000:.1f} ms "
            f"per document; cores busy {total / (seconds * (os.cpu_count() or 1)):.0%}")


# The run's documents, counted by the ledger: every document of the run (billing ones and the extract's messages)
# once, whatever its messages (not fallbacks, companion notices or quarantined rows).
_COUNT_DOCUMENTS = """
import sys
from omnibill import wiring
from omnibill.ledger.reports import count_documents
run = wiring.run_of("demo", sys.argv[1])
with wiring.ledger().read() as session:
    print(sum(count_documents(session, run.id, billing=billing) for billing in (True, False)))
"""


def _documents(env: dict[str, str], period: str) -> int:
    out = subprocess.run([str(BIN / "python"), "-c", _COUNT_DOCUMENTS, period], capture_output=True, env=env,
                         text=True, cwd=REPO)
    try:
        return int(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return 0


if __name__ == "__main__":
    main()
