"""Screenshots of a flow run's page (and its artifacts) in the Prefect UI, with Debian's headless Chromium."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import httpx

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--window-size=1400,1000", "--virtual-time-budget=15000")


def find_browser() -> str:
    """The Chromium binary, or a clear error saying how to install it."""
    for name in BROWSERS:
        if found := shutil.which(name):
            return found
    raise RuntimeError("chromium not found: install it with `sudo apt-get install chromium` (Debian/Ubuntu), "
                       "then run this again")


def latest_flow_run(api_url: str) -> str:
    """The id of the most recent flow run that started (scheduled future runs sort first otherwise)."""
    started = {"state": {"type": {"any_": ["RUNNING", "COMPLETED", "FAILED", "CRASHED", "CANCELLED"]}}}
    runs = _post(api_url, "/flow_runs/filter", {"flow_runs": started, "sort": "START_TIME_DESC", "limit": 1})
    if not runs:
        raise RuntimeError(f"no flow runs on {api_url}")
    return runs[0]["id"]


def run_artifacts(api_url: str, run_id: str) -> list[dict]:
    """The keyed artifacts of a flow run (the ones the UI lists), oldest first."""
    found = _post(api_url, "/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [run_id]}},
                                                  "sort": "CREATED_DESC", "limit": 50, "offset": 0})
    return [a for a in reversed(found) if a.get("key")]


def screenshot(api_url: str, flow_run: str, out: Path, with_artifacts: bool = False) -> list[str]:
    """PNG of the run page at `out`; with artifacts, `<out>-<key>.png` per artifact page. Returns what was written."""
    browser = find_browser()
    try:
        run_id = latest_flow_run(api_url) if flow_run == "latest" else flow_run
        pages = [(out, f"/runs/flow-run/{run_id}")]
        if with_artifacts:
            pages += [(out.with_name(f"{out.stem}-{a['key']}.png"), f"/artifacts/artifact/{a['id']}")
                      for a in run_artifacts(api_url, run_id)]
    except httpx.HTTPError as exc:
        raise RuntimeError(f"Prefect API not reachable at {api_url}: {exc} (start `omnibill server`?)") from exc
    ui = api_url.rstrip("/").removesuffix("/api")
    return [_shoot(browser, f"{ui}{path}", target.resolve()) for target, path in pages]


def _shoot(browser: str, url: str, out: Path) -> str:
    out.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", f"--screenshot={out}", url],
                              capture_output=True, text=True, timeout=120)
    if not out.exists():
        raise RuntimeError(f"chromium wrote no screenshot of {url} (exit {done.returncode}): {done.stderr[-500:]}")
    return f"wrote {out} ({out.stat().st_size} bytes) of {url}"


def _post(api_url: str, path: str, body: dict) -> list[dict]:
    answer = httpx.post(f"{api_url.rstrip('/')}{path}", json=body, timeout=10)
    answer.raise_for_status()
    return answer.json()
