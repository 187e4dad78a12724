"""`omnibill` commands for operating: serve, server, limits, automations, the sandbox and its faults, UI screenshots."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from omnibill.cli.common import providers

commands = typer.Typer()


@commands.command()
def serve(
    source: Annotated[str, typer.Option(help="Extract location; {tenant} and {period} are filled in")] =
    "var/extracts/{tenant}-{period}",
    no_schedule: Annotated[bool, typer.Option("--no-schedule", help="Serve without the monthly schedules")] = False,
    limit: Annotated[int, typer.Option(help="Flow runs at the same time in this process")] = 4,
) -> None:
    """Serve every deployment (per tenant: the monthly run and the 15-minute release of scheduled messages; rerun)."""
    from prefect import serve as prefect_serve

    from config.settings import get_settings
    from flows.deployments import build_deployments

    from omnibill import wiring

    _require_server()
    wiring.ledger()  # refuse to serve on an outdated ledger schema (`omnibill db upgrade`)
    with providers():  # for the process's lifetime: its flow runs use them
        prefect_serve(*build_deployments(get_settings(), source, schedule=not no_schedule), limit=limit)


@commands.command()
def server(
    port: Annotated[int, typer.Option(help="Port of the API and UI")] = 4200,
    host: Annotated[str, typer.Option(help="Address to bind")] = "127.0.0.1",
) -> None:
    """Start a local Prefect server with its UI (telemetry off); Ctrl-C stops it."""
    from omnibill.ops.server import server_env, start_server_foreground

    env = server_env(host, port)
    typer.echo(f"Prefect UI:  http://{host}:{port}/\nPoint runs at it (in another shell):\n"
               f"  export PREFECT_API_URL=http://{host}:{port}/api\n"
               f"  .venv/bin/omnibill run --tenant demo --period YYYY-MM --source DIR")
    raise typer.Exit(start_server_foreground(env, host, port))


limits_app = typer.Typer(help="Provider limits as Prefect global concurrency limits.", no_args_is_help=True)
commands.add_typer(limits_app, name="limits")


@limits_app.command("setup")
def limits_setup() -> None:
    """Create or update `provider-<channel>` and `tenant-<tenant>` limits on the Prefect server from settings."""
    from config.settings import get_settings
    from flows.deployments import tenants
    from omnibill.ops.limits import setup_limits

    _require_server()
    settings = get_settings()
    for name, limit in setup_limits(settings, tenants(settings)):
        typer.echo(f"  {name:<20} {limit} at a time")


@commands.command("sandbox-faults")
def sandbox_faults(
    down: Annotated[list[str], typer.Option(help="Channel whose provider answers 503 (repeatable): email, sms, "
                                                 "mailbox")] = [],  # noqa: B006 (typer needs a list default)
    fail_rate: Annotated[float, typer.Option(help="Share of requests failing transiently")] = 0.0,
    delay: Annotated[float, typer.Option(help="Seconds before every answer (slow provider)")] = 0.0,
    reject: Annotated[list[str], typer.Option(help="Recipient refused permanently (repeatable)")] = [],  # noqa: B006
) -> None:
    """Set the fault rules of a running `omnibill sandbox` (no options: end the outage)."""
    import httpx

    from config.settings import get_settings

    box = get_settings().sandbox
    rules = {"down_channels": down, "fail_rate": fail_rate, "delay_s": delay, "reject_recipients": reject,
             "fail_keys": []}
    answer = httpx.post(f"http://{box.host}:{box.http_port}/_sandbox/faults", json=rules, timeout=5)
    answer.raise_for_status()
    typer.echo(json.dumps(answer.json()))


@commands.command("ui-screenshot")
def ui_screenshot(
    flow_run: Annotated[str, typer.Option("--flow-run", help="Flow run id (or `latest`)")],
    out: Annotated[Path, typer.Option(help="PNG file to write")] = Path("flow-run.png"),
    artifacts: Annotated[bool, typer.Option("--artifacts", help="Also one PNG per artifact of the run "
                                                                "(<out>-<key>.png)")] = False,
) -> None:
    """Screenshot a flow run's page in the Prefect UI with headless Chromium (Debian's `chromium`)."""
    from omnibill.ops.screenshot import screenshot

    api = os.environ.get("PREFECT_API_URL") or "http://127.0.0.1:4200/api"
    try:
        for line in screenshot(api, flow_run, out, artifacts):
            typer.echo(line)
    except RuntimeError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc


def _require_server() -> None:
    """Serving and limits need a Prefect server that outlives this command, not local mode."""
    if not os.environ.get("PREFECT_API_URL"):
        from prefect.settings import PREFECT_API_URL

        if not PREFECT_API_URL.value():
            typer.echo("PREFECT_API_URL is not set: start `omnibill server` and "
                       "`export PREFECT_API_URL=http://127.0.0.1:4200/api` first", err=True)
            raise typer.Exit(2)


automation_app = typer.Typer(help="Optional Prefect automations.", no_args_is_help=True)
commands.add_typer(automation_app, name="automation")


@automation_app.command("install")
def automation_install(
    delay_minutes: Annotated[float, typer.Option(help="Minutes to wait before the rerun")] = 15.0,
) -> None:
    """Rerun a batch automatically some minutes after a monthly run emits omnibill.batch.failed for it."""
    from omnibill.ops.automation import NAME, install_rerun_automation

    _require_server()
    typer.echo(f"automation {NAME!r} installed: {install_rerun_automation(delay_minutes)}")


@commands.command()
def sandbox(
    smtp_port: Annotated[int, typer.Option(help="SMTP port")] = 0,
    http_port: Annotated[int, typer.Option(help="HTTP gateway port (SMS + digital mailbox)")] = 0,
) -> None:
    """Run the local sandbox providers in the foreground: SMTP relay, 46elks, Twilio, Kivra, Digipost, e-Boks, the access point."""
    from config.settings import get_settings
    from omnibill.sandbox import Sandbox

    settings = get_settings()
    box = Sandbox.from_settings(settings, smtp_port=smtp_port or None, http_port=http_port or None).start()
    typer.echo(f"sandbox: SMTP on {settings.sandbox.host}:{box.smtp_port}, HTTP on {settings.sandbox.host}:"
               f"{box.http_port}, keeping what it receives in {settings.sandbox_dir()} (Ctrl-C to stop)")
    box.run_forever()
