"""The one place where a channel is wired to its adapter, configured from settings."""

from __future__ import annotations

from collections.abc import Callable

from channel_adapters.base import ChannelAdapter
from channel_adapters.digital_mailbox import DigitalMailboxAdapter
from channel_adapters.einvoice import EInvoiceDropAdapter
from channel_adapters.print_house import PrintHouseAdapter
from channel_adapters.sms_gateway import SmsGatewayAdapter
from channel_adapters.smtp import SmtpAdapter
from config.settings import Settings
from omnibill.store import open_store

# Channel -> how its adapter is built from settings (config/channels.py: DISPATCH_CHANNELS lists the same).
ADAPTERS: dict[str, Callable[[Settings], ChannelAdapter]] = {
    "email": lambda s: SmtpAdapter(s.smtp),
    "sms": lambda s: SmsGatewayAdapter(s.gateway),
    "mailbox": lambda s: DigitalMailboxAdapter(s.gateway),
    "einvoice": lambda s: EInvoiceDropAdapter(open_store(s.resolved_einvoice_url(), s.s3)),
    "print": lambda s: PrintHouseAdapter(open_store(s.resolved_print_url(), s.s3)),
}


def build_adapter(channel: str, settings: Settings) -> ChannelAdapter:
    """The adapter for a channel, configured from settings."""
    make = ADAPTERS.get(channel)
    if make is None:
        raise ValueError(f"no adapter for channel {channel!r}; known: {', '.join(sorted(ADAPTERS))}")
    return make(settings)
