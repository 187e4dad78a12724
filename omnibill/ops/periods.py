"""Billing periods for scheduled runs."""

from __future__ import annotations

from datetime import date


def previous_month(today: date | None = None) -> str:
    """The month that just ended (YYYY-MM): what a run on the 1st bills."""
    today = today or date.today()
    return f"{today.year - 1}-12" if today.month == 1 else f"{today.year}-{today.month - 1:02d}"
