"""A local Prefect server with its UI, telemetry off."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def server_env(host: str, port: int) -> dict[str, str]:
    """The server's environment: no telemetry; the UI told where the API is when not on 4200."""
    env = dict(os.environ)
    env.update(PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1",
               PREFECT_SERVER_API_HOST=host, PREFECT_SERVER_API_PORT=str(port))
    # Otherwise the UI calls 127.0.0.1:4200 and shows "Can't connect to Server API".
    env["PREFECT_UI_API_URL"] = f"http://{host}:{port}/api"
    env.pop("PREFECT_API_URL", None)  # the server itself must not talk to another server
    return env


def start_server_foreground(env: dict[str, str], host: str, port: int) -> int:
    """Run `prefect server start` until it exits; returns its exit code."""
    prefect = Path(sys.executable).with_name("prefect")
    try:
        return subprocess.call([str(prefect), "server", "start", "--host", host, "--port", str(port)], env=env)
    except KeyboardInterrupt:
        return 0
