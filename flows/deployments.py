"""The deployments `omnibill serve` serves from one process: per tenant a monthly run, a release of
scheduled messages every 15 minutes and a daily print-if-unread, and the rerun."""

from __future__ import annotations

from prefect.schedules import Cron

from config.settings import Settings

MONTHLY_CRON = "0 6 1 * *"  # 06:00 on the 1st: the month that just ended is billed
RELEASE_CRON = "*/15 * * * *"  # scheduled messages leave within 15 minutes of the end of quiet hours
PRINT_IF_UNREAD_CRON = "0 9 * * *"  # every morning: letters for the month just ended's documents left unread
TIME_ZONE = "Europe/Stockholm"
SOURCE_TEMPLATE = "var/extracts/{tenant}-{period}"


def tenants(settings: Settings) -> list[str]:
    """Every tenant with a rule file."""
    return sorted(p.stem for p in settings.tenants_dir.glob("*.toml"))


def build_deployments(settings: Settings, source: str = SOURCE_TEMPLATE, schedule: bool = True) -> list:
    """`<tenant>-monthly`, `<tenant>-release` and `<tenant>-print-if-unread` per tenant (cron, one run at a time)
    and `rerun` (started by hand or an automation)."""
    from flows.monthly_billing import monthly_billing_run
    from flows.print_if_unread import print_if_unread
    from flows.release_scheduled import release_scheduled
    from flows.rerun_failed import rerun_failed
    from omnibill.wiring import runnable

    # The task runner comes from settings (threads, or a Dask scheduler's workers), not from the decorators.
    monthly_billing_run, release_scheduled, print_if_unread, rerun_failed = (
        runnable(f, settings) for f in (monthly_billing_run, release_scheduled, print_if_unread, rerun_failed))
    made = [monthly_billing_run.to_deployment(
        name=f"{tenant}-monthly", parameters={"tenant": tenant, "source": source},
        schedules=[Cron(MONTHLY_CRON, timezone=TIME_ZONE)] if schedule else [],
        concurrency_limit=1, tags=["omnibill", f"tenant:{tenant}"],
        description=f"Monthly billing of {tenant}: 06:00 on the 1st ({TIME_ZONE}), the month just ended")
        for tenant in tenants(settings)]
    made += [release_scheduled.to_deployment(
        name=f"{tenant}-release", parameters={"tenant": tenant},
        schedules=[Cron(RELEASE_CRON, timezone=TIME_ZONE)] if schedule else [],
        concurrency_limit=1, tags=["omnibill", f"tenant:{tenant}"],
        description=f"Send {tenant}'s scheduled messages whose quiet hours are over (every 15 minutes)")
        for tenant in tenants(settings)]
    made += [print_if_unread.to_deployment(
        name=f"{tenant}-print-if-unread", parameters={"tenant": tenant, "period": ""},  # "": the month just ended
        schedules=[Cron(PRINT_IF_UNREAD_CRON, timezone=TIME_ZONE)] if schedule else [],
        concurrency_limit=1, tags=["omnibill", f"tenant:{tenant}"],
        description=f"Print {tenant}'s documents whose digital message was not opened in time (09:00 daily, "
                    f"the month just ended's run)")
        for tenant in tenants(settings)]
    made.append(rerun_failed.to_deployment(
        name="rerun", tags=["omnibill"],
        description="Re-dispatch a run's transiently failed or pending messages (optionally one channel/batch)"))
    return made
