"""The one place where providers are built from settings, and a channel is wired to its providers.

A tenant's rule file picks the provider per channel and customer country ([providers]; the mailbox
is the recipient's own). `build_adapter` gives the channel's adapter: the provider itself when one
serves everybody, otherwise a RoutedAdapter that hands each message to its provider.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from channel_adapters.base import ChannelAdapter, OutboundMessage
from channel_adapters.digipost import DigipostAdapter
from channel_adapters.digital_mailbox import DigitalMailboxAdapter
from channel_adapters.eboks import EboksAdapter
from channel_adapters.einvoice import EInvoiceDropAdapter
from channel_adapters.elks import ElksAdapter
from channel_adapters.kivra import KivraAdapter
from channel_adapters.print_house import PrintHouseAdapter
from channel_adapters.routing import RoutedAdapter
from channel_adapters.sms_gateway import SmsGatewayAdapter
from channel_adapters.smtp import SmtpAdapter
from channel_adapters.twilio import TwilioAdapter
from config.channels import PROVIDERS as CHANNEL_PROVIDERS
from config.settings import Settings
from config.tenant import TenantRules, default_routes
from omnibill.store import open_store


def _einvoice(s: Settings) -> EInvoiceDropAdapter:
    responses = s.drops.einvoice_responses_url or s.resolved_einvoice_url().rstrip("/") + "/responses"
    return EInvoiceDropAdapter(open_store(s.resolved_einvoice_url(), s.s3), open_store(responses, s.s3))


# A provider's reference to a message (Kivra's content key) -> our message id, asked of the ledger.
MessageFor = Callable[[str], str | None]

# Provider -> (its adapter class, how it is built from settings, a provider-reference lookup and the connections
# each batch sends over); config/channels.py PROVIDERS names the same.
Builder = Callable[[Settings, "MessageFor | None", int], ChannelAdapter]
PROVIDERS: dict[str, tuple[type[ChannelAdapter], Builder]] = {
    "smtp": (SmtpAdapter, lambda s, _, n: SmtpAdapter(s.smtp, s.smtp.bounce_maildir or Path(s.data_dir) / "bounces",
                                                      connections=n)),
    "46elks": (ElksAdapter, lambda s, _, n: ElksAdapter(s.elks, s.webhooks.public_url,
                                                        s.derived_key("webhooks:46elks"), connections=n)),
    "twilio": (TwilioAdapter, lambda s, _, n: TwilioAdapter(s.twilio, s.webhooks.public_url, connections=n)),
    "sms-gateway": (SmsGatewayAdapter, lambda s, _, n: SmsGatewayAdapter(s.gateway, connections=n)),
    "kivra": (KivraAdapter, lambda s, find, n: KivraAdapter(s.kivra, s.webhooks.public_url, message_for=find,
                                                            connections=n)),
    "digipost": (DigipostAdapter, lambda s, _, n: DigipostAdapter(s.digipost, s.data_dir)),
    "eboks": (EboksAdapter, lambda s, _, n: EboksAdapter(s.eboks)),
    "mailbox-gateway": (DigitalMailboxAdapter, lambda s, _, n: DigitalMailboxAdapter(s.gateway, connections=n)),
    "peppol-drop": (EInvoiceDropAdapter, lambda s, _, n: _einvoice(s)),
    "print-drop": (PrintHouseAdapter, lambda s, _, n: PrintHouseAdapter(open_store(s.resolved_print_url(), s.s3))),
}


def build_provider(name: str, settings: Settings, message_for: MessageFor | None = None,
                   connections: int = 1) -> ChannelAdapter:
    """One provider's adapter, configured from settings, sending over `connections` connections at once."""
    if name not in PROVIDERS:
        raise ValueError(f"no provider {name!r}; known: {', '.join(sorted(PROVIDERS))}")
    return PROVIDERS[name][1](settings, message_for, connections)


def build_adapter(channel: str, settings: Settings, rules: TenantRules | None = None,
                  message_for: MessageFor | None = None, connections: int = 1) -> ChannelAdapter:
    """The adapter for a channel: its provider, or a router over the providers the tenant's rules name."""
    if channel not in CHANNEL_PROVIDERS:
        raise ValueError(f"no adapter for channel {channel!r}; known: {', '.join(sorted(CHANNEL_PROVIDERS))}")
    routes = (rules.providers if rules is not None else default_routes())[channel]
    names = sorted(set(routes.values()))
    if channel != "mailbox" and len(names) == 1:
        return build_provider(names[0], settings, message_for, connections)
    return RoutedAdapter(channel, route_by(channel, routes),
                         lambda n: build_provider(n, settings, message_for, connections),
                         {n: PROVIDERS[n][0] for n in names})


def route_by(channel: str, routes: dict[str, str]) -> Callable[[OutboundMessage], str | None]:
    """Which provider a message goes through: by the recipient's mailbox, or by country with a default."""
    if channel == "mailbox":
        return lambda m: routes.get(m.metadata.get("mailbox_provider", ""))
    return lambda m: routes.get(m.metadata.get("country", ""), routes.get("default"))
