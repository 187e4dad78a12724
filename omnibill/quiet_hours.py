"""Quiet hours: local hours in which a tenant's SMS and push messages wait instead of going out."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from config.tenant import QuietHours, TenantRules


def next_allowed(now: datetime, zone: str, quiet: QuietHours) -> datetime | None:
    """When quiet hours hold at `now` in a time zone, the UTC time they end; else None."""
    local = now.astimezone(ZoneInfo(zone))
    start, end = (time.fromisoformat(quiet.start), time.fromisoformat(quiet.end))
    t = local.time().replace(tzinfo=None)
    inside = (start <= t or t < end) if start > end else (start <= t < end)
    if not inside:
        return None
    day = local.date() + timedelta(days=1 if start > end and t >= start else 0)
    return datetime.combine(day, end, ZoneInfo(zone)).astimezone(timezone.utc)  # the ledger stores UTC


def zone_of(rules: TenantRules, country: str) -> str:
    """The time zone quiet hours are counted in for a customer's country."""
    return rules.quiet_hours.timezones.get(country, rules.quiet_hours.default_timezone)


def quiet_until(rules: TenantRules, category: str, channel: str, country: str, now: datetime) -> datetime | None:
    """When a message of this category and channel to a customer in `country` may go out, if not now."""
    wanted = rules.categories.get(category)
    if wanted is None or channel not in wanted.quiet_hours:
        return None
    return next_allowed(now, zone_of(rules, country), rules.quiet_hours)


def scheduled_reason(until: datetime, zone: str) -> str:
    """`quiet hours: scheduled for 04 Dec 2026 08:00 Europe/Stockholm`."""
    return "quiet hours: scheduled for " + until.astimezone(ZoneInfo(zone)).strftime("%d %b %Y %H:%M ") + zone
