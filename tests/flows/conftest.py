"""Fixtures for whole runs under Prefect's test harness: sandbox providers on free ports, fast retries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import sandbox_for_test


@pytest.fixture
def sandbox(omnibill_env: Path, monkeypatch: pytest.MonkeyPatch):
    """Sandbox providers on free ports, the run's adapters pointed at them, retries without delay (daytime)."""
    with sandbox_for_test(omnibill_env, monkeypatch, BATCH_SIZE="50", DISPATCH_RETRIES="1",
                          DISPATCH_RETRY_DELAY_S="0", RENDER_WORKERS="1") as box:
        yield box


def artifacts_of(flow_run_id) -> dict[str, Any]:
    """The artifacts of one flow run by key, their data parsed (tables as lists of rows)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import Artifact

    with get_client(sync_client=True) as client:
        # A raw request: Prefect 3.8's sync read_artifacts sends unset filters as null (refused), and
        # empty task-run filters drop the flow-level artifacts (progress) from the answer.
        answer = client.request("POST", "/artifacts/filter", json={
            "artifacts": {"flow_run_id": {"any_": [str(flow_run_id)]}}, "limit": 200, "offset": 0,
            "sort": "CREATED_DESC"})
    found = [Artifact.model_validate(a) for a in answer.json()]
    out: dict[str, Any] = {}
    for a in found:
        data = a.data
        if a.type == "table" and isinstance(data, str):
            data = json.loads(data)
        out[a.key] = {"type": a.type, "data": data, "description": a.description}
    return out

