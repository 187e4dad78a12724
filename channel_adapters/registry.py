"""The one place where a channel is wired to its adapter class and settings."""

from __future__ import annotations

from channel_adapters.base import ChannelAdapter
from channel_adapters.digital_mailbox import DigitalMailboxAdapter
from channel_adapters.einvoice import EInvoiceDropAdapter
from channel_adapters.print_house import PrintHouseAdapter
from channel_adapters.sms_gateway import SmsGatewayAdapter
from channel_adapters.smtp import SmtpAdapter
from config.settings import Settings
from omnibill.store import open_store

ADAPTERS: dict[str, type[ChannelAdapter]] = {
    "email": SmtpAdapter,
    "sms": SmsGatewayAdapter,
    "mailbox": DigitalMailboxAdapter,
    "einvoice": EInvoiceDropAdapter,
    "print": PrintHouseAdapter,
}


def build_adapter(channel: str, settings: Settings) -> ChannelAdapter:
    """The adapter for a channel, configured from settings."""
    if channel not in ADAPTERS:
        raise ValueError(f"no adapter for channel {channel!r}; known: {', '.join(sorted(ADAPTERS))}")
    if channel == "email":
        return SmtpAdapter(settings.smtp)
    if channel == "sms":
        return SmsGatewayAdapter(settings.gateway)
    if channel == "mailbox":
        return DigitalMailboxAdapter(settings.gateway)
    if channel == "einvoice":
        return EInvoiceDropAdapter(open_store(settings.resolved_einvoice_url(), settings.s3))
    return PrintHouseAdapter(open_store(settings.resolved_print_url(), settings.s3))
