"""Receipts pushed by providers to /webhooks/<provider> while a real run goes on: applied once, checked for
their signature, a read and a payment from Kivra, a late failure sending the fallback."""

from __future__ import annotations

import re
import socket
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import select

from omnibill import wiring
from omnibill.ledger.models import Document, Message, Payment, ProviderEvent, Receipt
from tests.conftest import reset_caches, sandbox_for_test
from tests.portal.support import PERIOD, isolate, monthly_run, serve

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def pushed(prefect_harness, tmp_path_factory):
    """A run whose providers call the portal back (its webhooks), the portal up before the run starts."""
    from omnibill.portal.app import create_app

    tmp = tmp_path_factory.mktemp("webhooks")
    port = _free_port()
    with pytest.MonkeyPatch.context() as mp:
        isolate(mp, tmp / "var")
        mp.setenv("OMNIBILL_WEBHOOKS__PUBLIC_URL", f"http://127.0.0.1:{port}")
        reset_caches()
        with sandbox_for_test(tmp / "var", mp, BATCH_SIZE="120") as box:
            box.settings = wiring.get_settings()  # the sandbox calls back where the settings say
            with serve(create_app(wiring.get_settings()), port=port) as portal:
                monthly_run(tmp / "extract", PERIOD)
                assert box.callbacks.drain(30)
                yield box, portal
    reset_caches()


def _messages(channel: str) -> list[Message]:
    with wiring.ledger().read() as s:
        return list(s.scalars(select(Message).where(Message.channel == channel)))


def test_sms_delivery_reports_arrive_by_webhook(pushed):
    box, _ = pushed
    sms = [m for m in _messages("sms") if m.state in ("sent", "delivered")]
    assert sms and all(m.state == "delivered" for m in sms)  # 46elks and Twilio (NO) pushed "delivered"
    with wiring.ledger().read() as s:
        events = s.scalars(select(ProviderEvent).where(ProviderEvent.provider.in_(("46elks", "twilio")),
                                                       ProviderEvent.status == "delivered")).all()
    assert {e.message_id for e in events} == {m.id for m in sms} and all(e.applied_at for e in events)


def test_a_callback_with_a_wrong_signature_is_refused_and_changes_nothing(pushed):
    _, portal = pushed
    delivered = next(m for m in _messages("sms") if m.state == "delivered")
    forged = f"{portal}/webhooks/46elks?m={delivered.id}&sig=" + "0" * 32
    answer = httpx.post(forged, data={"id": "s1", "status": "failed", "delivered": "2026-11-18T10:00:00"})
    assert answer.status_code == 403
    twilio = httpx.post(f"{portal}/webhooks/twilio?m={delivered.id}", data={"MessageStatus": "failed"},
                        headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"})
    assert twilio.status_code == 403
    with wiring.ledger().read() as s:
        assert s.get(Message, delivered.id).state == "delivered"


def test_the_same_callback_twice_is_applied_once(pushed):
    _, portal = pushed
    from channel_adapters.registry import build_provider

    elks = build_provider("46elks", wiring.get_settings())
    # a message 46elks sent (NO numbers go through Twilio, whose SIDs start with "SM")
    message = next(m for m in _messages("sms") if m.state == "delivered" and not (m.provider_ref or "").startswith("SM"))
    url = elks.callback_url(message.id)
    body = urlencode({"id": message.provider_ref or "s0", "status": "delivered", "delivered": "2026-11-18T10:00:00"})
    for _ in range(2):
        assert httpx.post(url.replace(wiring.get_settings().webhooks.public_url, portal), content=body,
                          headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code == 200
    with wiring.ledger().read() as s:
        assert s.query(Receipt).filter_by(message_id=message.id, status="delivered").count() == 1


def test_a_kivra_read_and_payment_come_back_by_webhook(pushed):
    box, _ = pushed
    with wiring.ledger().read() as s:
        invoices = {d.id for d in s.scalars(select(Document).where(Document.document_type == "invoice",
                                                                   Document.currency == "SEK"))}
    kivra = [m for m in _messages("mailbox") if m.state in ("sent", "delivered") and m.document_id in invoices
             and re.fullmatch(r"\d{10}[0-9a-f]{32}", m.provider_ref or "")]  # Kivra's content keys
    assert kivra, "no invoice went through Kivra"
    base = wiring.get_settings().kivra.base_url
    assert httpx.post(f"{base}/_sandbox/read", json={"content_keys": [kivra[0].provider_ref]}).json()["read"] == 1
    paid = httpx.post(f"{base}/_sandbox/pay", json={"content_key": kivra[0].provider_ref})
    assert box.callbacks.drain(15)
    with wiring.ledger().read() as s:
        assert s.get(Message, kivra[0].id).opened_at is not None
    assert paid.status_code == 200, paid.text
    with wiring.ledger().read() as s:
        payment = s.scalars(select(Payment).where(Payment.source == "kivra")).one()
        assert payment.status == "matched" and payment.document_id == kivra[0].document_id
