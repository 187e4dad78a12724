"""A local Prefect server with its UI, telemetry off."""

from __future__ import annotations

import os
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
    """Become `prefect server start` (exec): a SIGTERM to this process then stops the server itself."""
    prefect = str(Path(sys.executable).with_name("prefect"))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(prefect, [prefect, "server", "start", "--host", host, "--port", str(port)], env)
    return 0  # not reached
