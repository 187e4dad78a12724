"""POST /webhooks/<provider>: delivery reports, reads and payments pushed by providers.

Each provider's own signature check (in its adapter's `parse_callback`) decides whether a callback is
genuine: a refused one answers 403 and changes nothing. Events are kept once per provider event id
and applied by message state (omnibill/receipts/apply.py), so a provider retrying, or pushing what
the receipts stage also polled, or sending events out of order, does no harm. Anything but a 2xx
makes the provider call again later.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from channel_adapters.base import Callback, CallbackRejected, ChannelAdapter, PaymentEvent, ReceiptEvent
from config.settings import Settings
from omnibill import wiring

log = logging.getLogger("omnibill.webhooks")
# Providers that call back (the path segment is the provider's name in channel_adapters/registry.py).
CALLING_PROVIDERS = ("46elks", "twilio", "kivra", "digipost", "eboks")


def add_webhooks(app: FastAPI, settings: Settings) -> None:
    """Mount the webhook endpoints on the portal app."""
    from channel_adapters.registry import build_provider

    adapters: dict[str, ChannelAdapter] = {}
    lock = threading.Lock()

    def adapter(provider: str) -> ChannelAdapter:
        with lock:
            if provider not in adapters:
                adapters[provider] = build_provider(provider, settings, wiring.message_for(settings))
            return adapters[provider]

    @app.post("/webhooks/{provider}")
    async def webhook(provider: str, request: Request) -> JSONResponse:
        if provider not in CALLING_PROVIDERS:
            return JSONResponse({"error": f"no webhooks for {provider!r}"}, status_code=404)
        # The URL as the provider called it: our public address (signatures cover it), path and query.
        url = settings.webhooks.public_url.rstrip("/") + request.url.path
        if request.url.query:
            url += "?" + request.url.query
        callback = Callback(request.method, url, {k.lower(): v for k, v in request.headers.items()},
                            await request.body())
        try:
            events = adapter(provider).parse_callback(callback)
        except CallbackRejected as exc:
            log.warning("refused a %s callback: %s", provider, exc)
            return JSONResponse({"error": "callback refused"}, status_code=403)
        counts = await run_in_threadpool(take, settings, provider, events, request.query_params.get("tenant"))
        return JSONResponse({"events": len(events), **counts})


def take(settings: Settings, provider: str, events: list, tenant: str | None = None) -> dict[str, int]:
    """Keep and apply a callback's events in one transaction."""
    from omnibill.receipts.apply import take_events
    from omnibill.receipts.stage import take_payments

    receipts = [e for e in events if isinstance(e, ReceiptEvent)]
    payments = [e for e in events if isinstance(e, PaymentEvent)]
    counts: Counter = Counter()
    with wiring.ledger(settings).transaction() as session:
        if receipts:
            counts.update(take_events(session, provider, receipts))
        if payments:
            counts.update(take_payments(session, payments, tenant))
    return dict(counts)
