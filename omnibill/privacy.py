"""Masking of personal data before it reaches logs, artifacts or reports."""

from __future__ import annotations

import re

_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
_LONG_DIGITS = re.compile(r"(?<![\w-])\+?\d[\d \-]{6,}\d(?![\w-])")


def mask_email(value: str | None) -> str:
    """`anna.svensson@example.se` → `a***@example.se`."""
    if not value:
        return ""
    local, _, domain = value.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def mask_tail(value: str | None, keep: int = 4) -> str:
    """Keep only the last characters: phone numbers, national ids, mailbox ids."""
    if not value:
        return ""
    return "*" * max(len(value) - keep, 3) + value[-keep:] if len(value) > keep else "***"


def scrub(text: str | None) -> str:
    """Mask e-mail addresses and long digit runs (phones, national ids) in free text."""
    if not text:
        return ""
    text = _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    return _LONG_DIGITS.sub(lambda m: mask_tail(re.sub(r"\D", "", m.group(0))), text)
