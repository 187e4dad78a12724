"""prefect.yaml loads, its entrypoints import and accept the declared parameters; `serve` builds the same."""

from __future__ import annotations

import importlib
from pathlib import Path

import yaml

from config.settings import get_settings
from flows.deployments import (MONTHLY_CRON, PRINT_IF_UNREAD_CRON, RELEASE_CRON, TIME_ZONE, build_deployments,
                               tenants)

REPO = Path(__file__).resolve().parents[2]
KINDS = ("monthly", "release", "print-if-unread")  # per tenant


def _flow_of(entrypoint: str):
    path, name = entrypoint.split(":")
    return getattr(importlib.import_module(path.removesuffix(".py").replace("/", ".")), name)


def test_prefect_yaml_deployments_import_and_take_their_parameters():
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    deployments = {d["name"]: d for d in spec["deployments"]}
    assert {f"{t}-{kind}" for t in tenants(get_settings()) for kind in KINDS} | {"rerun"} <= set(deployments)
    for name, d in deployments.items():
        flow = _flow_of(d["entrypoint"])
        params = dict(d.get("parameters") or {})
        if name == "rerun":
            params |= {"tenant": "demo", "period": "2026-11"}  # asked for in the run form
        flow.validate_parameters(params)  # raises on an unknown or mistyped parameter
        schema = flow.parameters.model_dump()["properties"]
        assert all(p.get("description") for p in schema.values()), f"{name}: undocumented parameter"
        assert d["work_pool"]["name"] == "omnibill"
    monthly = deployments["demo-monthly"]
    assert monthly["concurrency_limit"] == 1
    assert monthly["schedules"] == [{"cron": MONTHLY_CRON, "timezone": TIME_ZONE, "active": True}]
    assert deployments["demo-release"]["schedules"] == [{"cron": RELEASE_CRON, "timezone": TIME_ZONE, "active": True}]
    unread = deployments["demo-print-if-unread"]
    assert unread["schedules"] == [{"cron": PRINT_IF_UNREAD_CRON, "timezone": TIME_ZONE, "active": True}]
    assert unread["parameters"] == {"tenant": "demo", "period": ""} and unread["concurrency_limit"] == 1


def test_serve_builds_a_scheduled_monthly_run_release_and_print_if_unread_per_tenant_and_a_rerun():
    made = {d.name: d for d in build_deployments(get_settings())}
    assert set(made) == {f"{t}-{kind}" for t in tenants(get_settings()) for kind in KINDS} | {"rerun"}
    release = made["demo-release"].schedules[0].schedule
    assert (release.cron, release.timezone) == (RELEASE_CRON, TIME_ZONE)
    monthly = made["demo-monthly"]
    cron = monthly.schedules[0].schedule
    assert (cron.cron, cron.timezone) == (MONTHLY_CRON, TIME_ZONE)
    assert monthly.concurrency_limit == 1
    assert monthly.parameters["tenant"] == "demo"
    unread = made["demo-print-if-unread"]
    cron = unread.schedules[0].schedule
    assert (cron.cron, cron.timezone) == (PRINT_IF_UNREAD_CRON, TIME_ZONE) == ("0 9 * * *", "Europe/Stockholm")
    assert unread.parameters == {"tenant": "demo", "period": ""}  # "": the month just ended
    assert unread.concurrency_limit == 1 and unread.flow_name == "print-if-unread"
