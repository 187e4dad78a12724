"""Contract suite: EboksAdapter against the sandbox's imitation of e-Boks (wire format our decision, see the
adapter's docstring; addressing facts from e-Boks' public pages, fixtures/eboks/addressing.json)."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from channel_adapters.base import Attachment, CallbackRejected, OutboundMessage, PermanentError, TransientError
from channel_adapters.eboks import EboksAdapter

FIXTURES = Path(__file__).parent / "fixtures" / "eboks"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
DOCUMENTED = json.loads((FIXTURES / "addressing.json").read_text())
CPR = DOCUMENTED["formats"]["DK"]["example"]


@pytest.fixture
def adapter(settings):
    """An adapter with the sandbox's client credentials."""
    made = EboksAdapter(settings.eboks)
    yield made
    made.close()


def message(tag: str, n: int, recipient: str = CPR) -> OutboundMessage:
    """An e-Boks message whose id is unique to the test."""
    return OutboundMessage(uuid.uuid5(uuid.NAMESPACE_URL, f"{tag}/{n}").hex, "mailbox", f"D{n}", f"I{n}", recipient,
                           subject="Faktura november", attachments=(Attachment("f.pdf", "application/pdf", PDF),))


def deliveries(sandbox, m: OutboundMessage) -> int:
    """How many times the sandbox received this message (duplicates included)."""
    return sum(1 for r in sandbox.ledger.list("mailbox") if r.idempotency_key == m.message_id)


def callbacks_for(inbox, sandbox, m: OutboundMessage, kind: str):
    """The callbacks carrying an event of `kind` about this message."""
    return [c for c in inbox.wait_for(1, sandbox)
            if c.url.endswith("/webhooks/eboks") and f'"dispatch_id": "{m.message_id}", "type": "{kind}"'.encode()
            in c.body]


def test_send_is_received_once_and_a_resend_is_not_delivered_again(adapter, sandbox, tag):
    m = message(tag, 1)
    results = list(adapter.send([m])) + list(adapter.send([m]))
    assert [r.status for r in results] == ["sent", "sent"]
    assert deliveries(sandbox, m) == 1
    assert sandbox.ledger.first("mailbox", m.message_id).recipient == "eboks:******1234"


def test_documented_addressing_rules(adapter, settings, tag):
    dashed = message(tag, 2, recipient=DOCUMENTED["rejected_example"])
    unsubscribed = message(tag, 3, recipient="0710880000")
    results = list(adapter.send([dashed, unsubscribed]))
    # The CPR number as often written (DDMMYY-XXXX) goes out as the ten digits e-Boks takes.
    assert [(r.status, r.permanent) for r in results] == [("sent", False), ("failed", True)]
    assert "recipient_not_found" in results[1].error
    answer = httpx.put(f"{settings.eboks.base_url}/v1/dispatches/{tag}x", headers=adapter._headers(), json={
        "recipient": {"type": "CPR", "id": DOCUMENTED["rejected_example"], "country": "DK"}})
    assert answer.status_code == 400 and "invalid_recipient" in answer.text  # the sandbox keeps the rule
    mandatory = EboksAdapter(settings.eboks.model_copy(update={"mandatory": True}))
    assert [r.status for r in mandatory.send([message(tag, 4, recipient="0710880000")])] == ["sent"]


def test_transient_refusal_and_unreachable(adapter, settings, faults, tag):
    flaky = message(tag, 5)
    faults.update({"fail_keys": [flaky.message_id]})
    [result] = adapter.send([flaky])
    assert result.status == "failed" and not result.permanent
    down = EboksAdapter(settings.eboks.model_copy(update={"base_url": "http://127.0.0.1:9/eboks"}))
    with pytest.raises(TransientError):
        list(down.send([message(tag, 6)]))


def test_wrong_credentials_raise_permanent_error(settings, tag):
    wrong = EboksAdapter(settings.eboks.model_copy(update={"client_secret": SecretStr("wrong")}))
    with pytest.raises(PermanentError, match="401"):
        list(wrong.send([message(tag, 7)]))


def test_callbacks_parse_polling_agrees_and_tampering_is_refused(adapter, sandbox, inbox, tag):
    m = message(tag, 8)
    list(adapter.send([m]))
    assert httpx.post(f"{adapter.settings.base_url}/_sandbox/read", json={"message_ids": [m.message_id]}).json() \
        == {"read": 1}
    [delivered] = callbacks_for(inbox, sandbox, m, "DELIVERED")
    [read] = callbacks_for(inbox, sandbox, m, "READ")
    pushed = adapter.parse_callback(delivered) + adapter.parse_callback(read)
    assert [(e.message_id, e.status) for e in pushed] == [(m.message_id, "delivered"), (m.message_id, "read")]
    with pytest.raises(CallbackRejected):
        adapter.parse_callback(replace(read, body=read.body.replace(b"READ", b"DELIVERED")))
    with pytest.raises(CallbackRejected):
        adapter.parse_callback(replace(read, headers={**read.headers, "x-eboks-signature": "sha256=" + "0" * 64}))
    polled = [e for e in adapter.fetch_receipts() if e.message_id == m.message_id]
    assert [e.event_id for e in polled] == [e.event_id for e in pushed]
    assert all(e.message_id != m.message_id for e in adapter.fetch_receipts())


def test_registered(adapter):
    assert adapter.registered([CPR, "0710880000"]) == {CPR}
