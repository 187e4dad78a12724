"""An optional Prefect automation: rerun a batch some minutes after the monthly run reports it failed."""

from __future__ import annotations

from datetime import timedelta

from omnibill.ops.events import BATCH_FAILED

NAME = "omnibill: rerun a failed batch"
RERUN_DEPLOYMENT = "rerun-failed/rerun"


def install_rerun_automation(delay_minutes: float) -> str:
    """Create (or replace) the automation; needs the `rerun-failed/rerun` deployment (`omnibill serve` or deploy)."""
    from prefect.automations import Automation
    from prefect.client.orchestration import get_client
    from prefect.events.actions import RunDeployment
    from prefect.events.schemas.automations import EventTrigger, Posture

    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(RERUN_DEPLOYMENT)
        for old in client.read_automations_by_name(NAME):
            client.delete_automation(old.id)
    automation = Automation(
        name=NAME, description=f"On {BATCH_FAILED} from a monthly run, rerun that batch after {delay_minutes} min",
        trigger=EventTrigger(expect={BATCH_FAILED},
                             match={"prefect.resource.id": "omnibill.batch.*", "omnibill.flow": "monthly-billing-run"},
                             posture=Posture.Reactive, threshold=1, within=timedelta(0)),
        actions=[RunDeployment(source="selected", deployment_id=deployment.id,
                               parameters={"tenant": "{{ event.payload.tenant }}",
                                           "period": "{{ event.payload.period }}",
                                           "channel": "{{ event.payload.channel }}",
                                           "batch": "{{ event.payload.batch }}"},
                               schedule_after=timedelta(minutes=delay_minutes))])
    return str(automation.create().id)
