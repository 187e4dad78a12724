"""The recipient's choices from every source: the ERP extract's preferences and those made in the portal.

For each (category, channel) the latest choice wins, whichever source it came from.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

Choices = dict[str, dict[str, dict[str, Any]]]  # category -> channel -> {status, recorded_at, source}


def _moment(value: Any) -> datetime:
    try:
        at = datetime.fromisoformat(str(value))
    except ValueError:
        return datetime.min.replace(tzinfo=timezone.utc)
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def merge_choices(extract: Choices | None, portal: Choices | None) -> Choices:
    """The latest choice per category and channel from the extract and the portal."""
    merged: Choices = {cat: dict(by_channel) for cat, by_channel in (extract or {}).items()}
    for category, by_channel in (portal or {}).items():
        for channel, choice in by_channel.items():
            before = merged.setdefault(category, {}).get(channel)
            if before is None or _moment(choice.get("recorded_at")) >= _moment(before.get("recorded_at")):
                merged[category][channel] = choice
    return merged
