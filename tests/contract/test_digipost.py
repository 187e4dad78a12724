"""Contract suite: DigipostAdapter against the sandbox's imitation of the Digipost REST API v8."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree as ET

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from channel_adapters.base import Attachment, CallbackRejected, OutboundMessage, PermanentError
from channel_adapters.digipost import NS, DigipostAdapter, digipost_uuid, parse_document_events

FIXTURES = Path(__file__).parent / "fixtures" / "digipost"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
ADDRESS = {"name": "Kari Nordmann", "street": "Storgata 23", "postal_code": "0011", "city": "Oslo", "country": "NO",
           "sender_name": "Nordvatten AS"}


@pytest.fixture
def adapter(settings):
    """An adapter with a sandbox key made in this test's data dir."""
    made = DigipostAdapter(settings.digipost, settings.data_dir)
    yield made
    made.close()


def message(tag: str, n: int, recipient: str = "01043100358", **metadata: str) -> OutboundMessage:
    """A Digipost message whose id is unique to the test."""
    message_id = uuid.uuid5(uuid.NAMESPACE_URL, f"{tag}/{n}").hex
    return OutboundMessage(message_id, "mailbox", f"D{n}", f"I{n}", recipient, subject="Faktura november",
                           attachments=(Attachment("faktura.pdf", "application/pdf", PDF),), metadata=metadata)


def deliveries(sandbox, m: OutboundMessage) -> int:
    """How many times the sandbox received this message (duplicates included)."""
    return sum(1 for r in sandbox.ledger.list("mailbox") if r.idempotency_key == digipost_uuid(m.message_id))


def callbacks_for(inbox, sandbox, m: OutboundMessage, kind: str):
    """The callbacks carrying an event of `kind` about this message."""
    marker = f'uuid="{digipost_uuid(m.message_id)}" type="{kind}"'.encode()
    return [c for c in inbox.wait_for(1, sandbox) if marker in c.body]


def test_send_is_received_once_and_a_resend_is_not_delivered_again(adapter, sandbox, tag):
    m = message(tag, 1)
    first = list(adapter.send([m]))
    again = list(adapter.send([m]))  # Digipost answers DUPLICATE_MESSAGE: counts as sent
    assert [r.status for r in first + again] == ["sent", "sent"]
    assert first[0].provider_ref == digipost_uuid(m.message_id)
    assert deliveries(sandbox, m) == 1
    assert sandbox.ledger.first("mailbox", digipost_uuid(m.message_id)).recipient == "digipost:*******0358"


def test_request_has_the_documented_shape(adapter, tag):
    documented = ET.parse(FIXTURES / "send-message.xml").getroot()
    ours = ET.fromstring(adapter.message_xml(message(tag, 2)))
    paths = lambda root: [e.tag for e in root.iter()]  # noqa: E731
    assert paths(ours) == paths(documented)
    assert ours.findtext(f"{{{NS}}}message-id") == ours.findtext(f"{{{NS}}}primary-document/{{{NS}}}uuid")


def test_the_documented_duplicate_error_counts_as_sent(adapter, tag):
    m = message(tag, 3)
    answer = httpx.Response(400, content=(FIXTURES / "error-duplicate-message.xml").read_bytes())
    assert adapter._result(m, answer).status == "sent"


def test_name_and_address_print_fallback_and_print_if_unread(adapter, sandbox, inbox, tag):
    no_id = message(tag, 4, recipient="", **ADDRESS)
    xml = ET.fromstring(adapter.message_xml(no_id))
    assert xml.findtext(f".//{{{NS}}}name-and-address/{{{NS}}}fullname") == "Kari Nordmann"
    assert xml.findtext(f".//{{{NS}}}print-details/{{{NS}}}return-address/{{{NS}}}name") == "Nordvatten AS"
    unread = ET.fromstring(adapter.message_xml(message(tag, 5, print_if_unread_days="14", **ADDRESS)))
    assert unread.find(f"{{{NS}}}print-if-unread/{{{NS}}}print-details") is not None
    assert unread.find(f"{{{NS}}}recipient/{{{NS}}}print-details") is None
    assert [r.status for r in adapter.send([no_id])] == ["sent"]  # not a Digipost user: printed
    [callback] = callbacks_for(inbox, sandbox, no_id, "POSTMARKED")
    assert [(e.message_id, e.status) for e in adapter.parse_callback(callback)] == [(no_id.message_id, "printed")]


def test_permanent_and_transient_refusals(adapter, faults, tag):
    unknown = message(tag, 6, recipient="01043100000")  # not a Digipost user, no address to print to
    refused = message(tag, 7, recipient="01043199999")
    flaky = message(tag, 8)
    faults.update({"reject_recipients": [refused.recipient], "fail_keys": [flaky.message_id]})
    results = {r.message_id: r for r in adapter.send([unknown, refused, flaky])}
    assert results[unknown.message_id].permanent and "UNKNOWN_RECIPIENT" in results[unknown.message_id].error
    assert results[refused.message_id].permanent
    assert results[flaky.message_id].status == "failed" and not results[flaky.message_id].permanent
    assert "0000" not in results[unknown.message_id].error  # no personal data in errors


def test_a_wrong_key_raises_permanent_error(adapter, tag):
    assert adapter.registered(["01043100358"])  # Digipost now knows our key
    adapter._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # not the one Digipost has
    with pytest.raises(PermanentError, match="INVALID_SIGNATURE"):
        list(adapter.send([message(tag, 9)]))


def test_unreachable_raises_transient(settings, tag):
    from channel_adapters.base import TransientError
    down = DigipostAdapter(settings.digipost.model_copy(update={"base_url": "http://127.0.0.1:9/digipost"}),
                           settings.data_dir)
    with pytest.raises(TransientError):
        list(down.send([message(tag, 10)]))


def test_read_callback_parses_and_tampering_is_refused(adapter, sandbox, inbox, tag):
    m = message(tag, 11)
    list(adapter.send([m]))
    response = httpx.post(f"{adapter.settings.base_url}/_sandbox/read", json={"uuids": [m.message_id]})
    assert response.json() == {"read": 1}
    [callback] = callbacks_for(inbox, sandbox, m, "OPENED")
    [event] = adapter.parse_callback(callback)
    assert (event.message_id, event.status) == (m.message_id, "read") and event.at.tzinfo is not None
    with pytest.raises(CallbackRejected):
        adapter.parse_callback(replace(callback, body=callback.body.replace(b"OPENED", b"POSTMARKED")))
    signature = callback.headers["x-digipost-signature"]
    forged = {**callback.headers, "x-digipost-signature": ("A" if signature[0] != "A" else "B") + signature[1:]}
    with pytest.raises(CallbackRejected):
        adapter.parse_callback(replace(callback, headers=forged))
    with pytest.raises(CallbackRejected):
        adapter.parse_callback(replace(callback, headers={}))
    polled = [e for e in adapter.fetch_receipts() if e.message_id == m.message_id]
    assert [e.event_id for e in polled] == [event.event_id]
    assert adapter.fetch_receipts() == [] or all(e.message_id != m.message_id for e in adapter.fetch_receipts())
    assert [e.status for e in adapter.document_status(m.message_id)] == ["delivered", "read"]


def test_documented_document_events_parse():
    events = parse_document_events((FIXTURES / "document-events.xml").read_bytes())
    assert [(e.message_id, e.status, e.detail) for e in events] == [
        ("6d99008e26724b559b09996b09a06e47", "read", None),
        ("6d99008e26724b559b09996b09a06e47", "failed", "INVALID_RECIPIENT_PRINT_ADDRESS")]
    assert len({e.event_id for e in events}) == 2


def test_registered_asks_identification(adapter):
    assert adapter.registered(["01043100358", "01043100000"]) == {"01043100358"}


def test_a_new_adapter_resumed_at_the_last_poll_reads_on_from_there(adapter, settings, tag):
    first, later = message(tag, 12), message(tag, 13)
    list(adapter.send([first, later]))
    read = f"{adapter.settings.base_url}/_sandbox/read"
    assert httpx.post(read, json={"uuids": [first.message_id]}).json() == {"read": 1}
    assert first.message_id in {e.message_id for e in adapter.fetch_receipts()}
    position = adapter.feed_position()
    assert httpx.post(read, json={"uuids": [later.message_id]}).json() == {"read": 1}
    resumed = DigipostAdapter(settings.digipost, settings.data_dir)
    resumed.resume_feed(position)
    assert later.message_id in {e.message_id for e in resumed.fetch_receipts()}
    # the window starts at the position (less a few minutes' overlap): from an hour on, neither read is listed
    after = DigipostAdapter(settings.digipost, settings.data_dir)
    after.resume_feed((datetime.fromisoformat(position) + timedelta(hours=1)).isoformat())
    assert not {first.message_id, later.message_id} & {e.message_id for e in after.fetch_receipts()}
