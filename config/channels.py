"""The channels omnibill knows: the one list the rule files, the stages and the adapters share."""

from __future__ import annotations

from typing import Literal, get_args

# Order matters: the decide engine's arrays are indexed in this order (best-reaching first).
Channel = Literal["einvoice", "mailbox", "email", "sms", "push", "print"]
CHANNELS: tuple[str, ...] = get_args(Channel)

# Channels with a provider adapter. Push has none yet; no customer is reachable by push (the extract has
# no app registrations), so the decide stage never chooses it.
DISPATCH_CHANNELS: tuple[str, ...] = ("email", "sms", "mailbox", "einvoice", "print")
# Providers that report back: delivery reports, bounces, reads, access-point responses (the print drop does not).
RECEIPT_CHANNELS: tuple[str, ...] = ("sms", "mailbox", "email", "einvoice")
# Per-message HTTP APIs: sent in slices behind a breaker (SMTP and the file drops are not).
PER_MESSAGE_CHANNELS: tuple[str, ...] = ("sms", "mailbox")

# The providers each channel can send through (channel_adapters/registry.py builds them); a tenant picks
# one per channel and customer country in its rule file ([providers]); the mailbox is the recipient's own.
PROVIDERS: dict[str, tuple[str, ...]] = {
    "email": ("smtp",),
    "sms": ("46elks", "twilio", "sms-gateway"),
    "mailbox": ("kivra", "digipost", "eboks", "mailbox-gateway"),
    "einvoice": ("peppol-drop",),
    "print": ("print-drop",),
}
