"""Contract suite: the Kivra adapter against the sandbox's imitation of Kivra's tenant API, with Kivra's
documented examples (tests/contract/fixtures/kivra) as fixtures."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from channel_adapters.base import (Attachment, Callback, CallbackRejected, OutboundMessage, PaymentEvent,
                                   PermanentError, ReceiptEvent, TransientError)
from channel_adapters.kivra import KivraAdapter, content_payload, verify_standard_webhook, webhook_key

FIXTURES = Path(__file__).parent / "fixtures" / "kivra"
SSN = "19121212-1212"


def fixture(name: str):
    """A documented example payload."""
    return json.loads((FIXTURES / name).read_text())


def message(tag: str, recipient: str = SSN, pdf: bytes | None = None, **meta: str) -> OutboundMessage:
    """An invoice for Kivra with a Luhn-valid OCR (the documented one) and a Bankgiro account."""
    metadata = {"document_type": "invoice", "amount": "123.50", "currency": "SEK", "due_date": "2026-12-31",
                "payment_reference": "426523791", "bankgiro": "123-4567", "issue_date": "2026-12-01", **meta}
    return OutboundMessage(uuid.uuid4().hex, "mailbox", f"D-{tag}", f"I-{tag}", recipient, subject="Faktura december",
                           body_html="<h1>123,50 kr</h1>",
                           attachments=(Attachment("faktura.pdf", "application/pdf",
                                                   pdf or b"%PDF-1.4\n" + tag.encode() + b"\n%%EOF"),),
                           metadata=metadata)


@pytest.fixture
def kivra(settings):
    """The adapter pointed at the sandbox."""
    adapter = KivraAdapter(settings.kivra, settings.webhooks.public_url)
    yield adapter
    adapter.close()


def kivra_webhooks(inbox, sandbox, content_key: str, n: int = 1) -> list[Callback]:
    """The webhooks the sandbox pushed about one content."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = [c for c in inbox.wait_for(0, sandbox)
                 if c.url.endswith("/webhooks/kivra") and content_key.encode() in c.body]
        if len(found) >= n:
            return found
        time.sleep(0.05)
    raise AssertionError(f"expected {n} Kivra webhooks for the content")


def test_our_content_has_the_documented_shape():
    documented, ours = fixture("content_invoice_to_user.json"), content_payload(message("shape"))
    assert set(ours) == set(documented)
    assert set(ours["parts"][0]) == set(documented["parts"][0])
    assert set(ours["parts"][0]["responsive_part"]) == set(documented["parts"][0]["responsive_part"])
    assert set(ours["payment_multiple_options"]) <= set(documented["payment_multiple_options"])
    documented_option = documented["payment_multiple_options"]["options"][0]
    assert set(ours["payment_multiple_options"]["options"][0]) == set(documented_option)
    assert ours["ssn"] == "191212121212" and ours["type"] == "invoice"
    assert ours["payment_multiple_options"]["options"][0] == {"due_date": "2026-12-31", "amount": "123.50",
                                                               "reference": "426523791", "type": "SE_OCR"}


def test_reference_types_and_unpayable_documents():
    tenant_ref = content_payload(message("ref", payment_reference="INV-2026-0001"))
    assert tenant_ref["payment_multiple_options"]["options"][0]["type"] == "TENANT_REF"
    plusgiro = content_payload(message("pg", bankgiro="", plusgiro="456-9999"))
    assert plusgiro["payment_multiple_options"]["method"] == "2"
    assert content_payload(message("eur", currency="EUR"))["type"] == "letter"  # Kivra pays SEK only
    credit = content_payload(message("cn", document_type="credit_note"))
    assert credit["type"] == "letter.creditnotice" and "payment_multiple_options" not in credit


def test_documented_auth_usermatch_and_errors(sandbox, settings):
    kivra = settings.kivra
    with httpx.Client(base_url=kivra.base_url) as client:
        auth = client.post("/v1/auth", data={"grant_type": "client_credentials"},
                           auth=(kivra.client_id, kivra.client_secret.get_secret_value()))
        assert auth.status_code == 200 and set(auth.json()) == set(fixture("auth_response.json"))
        bearer = {"Authorization": f"Bearer {auth.json()['access_token']}"}
        match = client.post(f"/v2/tenant/{kivra.tenant_key}/usermatch/ssn", json=fixture("usermatch_request.json"),
                            headers=bearer)
        assert set(match.json()) == set(fixture("usermatch_response.json"))
        # The documented example's PDF is the text "DEADBEEF": refused the way Kivra refuses files.
        refused = client.post(f"/v2/tenant/{kivra.tenant_key}/content", json=fixture("content_invoice_to_user.json"),
                              headers=bearer)
        assert refused.status_code == 400 and set(refused.json()) == set(fixture("error_response.json"))
        assert refused.json()["code"] == 40019 and refused.headers["x-error-code"] == "40019"
        assert client.post(f"/v2/tenant/{kivra.tenant_key}/content", json={}).status_code == 401


def test_registered_is_a_bulk_usermatch(kivra):
    ids = ["19121212-1212", "197701030000", "7701032380", "not an id"]
    assert kivra.registered(ids) == {"19121212-1212", "7701032380"}


def test_send_delivers_once_and_an_identical_resend_is_not_delivered(sandbox, kivra, tag):
    before = sandbox.ledger.count("mailbox", unique=False)
    first = message(tag)
    [sent] = kivra.send([first])
    assert sent.status == "sent" and len(sent.provider_ref) == 42
    assert sandbox.ledger.count("mailbox", unique=False) == before + 1
    [again] = kivra.send([first])  # Kivra's duplicate control: same payload, same answer, no delivery
    assert again.status == "sent" and again.provider_ref == sent.provider_ref
    assert sandbox.ledger.count("mailbox", unique=False) == before + 1
    recorded = sandbox.ledger.first("mailbox", sandbox.ledger.keys("mailbox")[-1])
    assert recorded.recipient == "kivra:********1212" and b"191212121212" not in Path(
        sandbox.ledger.directory / recorded.path).read_bytes()
    [changed] = kivra.send([message(tag, pdf=b"%PDF-1.4\nre-rendered\n%%EOF")])  # other bytes: a new delivery
    assert changed.provider_ref != sent.provider_ref
    assert sandbox.ledger.count("mailbox", unique=False) == before + 2


def test_permanent_and_transient_refusals(faults, kivra, tag):
    faults.update({"reject_recipients": ["191212121213"]})
    unknown, opted_out, not_pdf = kivra.send([message(tag, recipient="197701030000"),
                                              message(tag, recipient="191212121213"),
                                              message(tag, pdf=b"<html>not a pdf</html>")])
    assert (unknown.status, unknown.permanent, "40032" in unknown.error) == ("failed", True, True)
    assert (opted_out.permanent, "40105" in opted_out.error) == (True, True)
    assert (not_pdf.permanent, "40019" in not_pdf.error) == (True, True)
    faults.update({"down_channels": ["mailbox"]})
    [outage] = kivra.send([message(tag)])
    assert (outage.status, outage.permanent, "503" in outage.error) == ("failed", False, True)


def test_unreachable_before_the_first_result_raises_transient(settings):
    dead = settings.kivra.model_copy(update={"base_url": "http://127.0.0.1:9/kivra"})
    with pytest.raises(TransientError):
        list(KivraAdapter(dead, "http://127.0.0.1").send([message("x")]))


@pytest.mark.parametrize("change", [{"client_secret": SecretStr("wrong")}, {"tenant_key": "someone-else"}])
def test_wrong_credentials_raise_permanent(settings, change):
    adapter = KivraAdapter(settings.kivra.model_copy(update=change), settings.webhooks.public_url)
    with pytest.raises(PermanentError):
        list(adapter.send([message("creds")]))


def test_token_is_cached_and_renewed_once_when_refused(settings, tag):
    auth_calls = []
    client = httpx.Client(event_hooks={"request": [lambda r: auth_calls.append(1) if r.url.path.endswith("/v1/auth")
                                                   else None]})
    adapter = KivraAdapter(settings.kivra, settings.webhooks.public_url, client=client)
    assert [r.status for r in adapter.send([message(tag), message(tag + "b")])] == ["sent", "sent"]
    assert len(auth_calls) == 1
    adapter._token = ("revoked", time.monotonic() + 3600)  # Kivra no longer knows our token
    assert [r.status for r in adapter.send([message(tag + "c")])] == ["sent"] and len(auth_calls) == 2


def test_payment_and_read_webhooks_map_to_our_message_and_polling_agrees(sandbox, inbox, kivra, settings, tag):
    invoice = message(tag)
    [sent] = kivra.send([invoice])
    with httpx.Client(base_url=settings.kivra.base_url) as client:
        assert client.post("/_sandbox/pay", json={"content_key": sent.provider_ref}).status_code == 200
        assert client.post("/_sandbox/read", json={"content_keys": [sent.provider_ref]}).json() == {"read": 1}
    events = [e for c in kivra_webhooks(inbox, sandbox, sent.provider_ref, 2) for e in kivra.parse_callback(c)]
    [paid] = [e for e in events if isinstance(e, PaymentEvent)]
    [read] = [e for e in events if isinstance(e, ReceiptEvent)]
    assert (paid.reference, paid.amount, paid.currency, paid.source, paid.message_id) == (
        "426523791", Decimal("123.50"), "SEK", "kivra", invoice.message_id)
    assert paid.paid_on == datetime.now(timezone.utc).date()
    assert (read.message_id, read.status, read.at.tzinfo is not None) == (invoice.message_id, "read", True)
    # Polling from another process: the content key is mapped through the ledger's provider_ref.
    poller = KivraAdapter(settings.kivra, settings.webhooks.public_url,
                          message_for={sent.provider_ref: invoice.message_id}.get)
    polled = {e.event_id: e for e in poller.fetch_receipts()}
    assert polled[paid.event_id] == paid and polled[read.event_id] == read
    assert poller.fetch_receipts() == []


def test_tampered_or_unsigned_webhooks_are_refused(sandbox, inbox, kivra, settings, tag):
    [sent] = kivra.send([message(tag)])
    httpx.post(f"{settings.kivra.base_url}/_sandbox/pay", json={"content_key": sent.provider_ref, "amount": "50.00"})
    [genuine] = kivra_webhooks(inbox, sandbox, sent.provider_ref)
    assert kivra.parse_callback(genuine)
    richer = genuine.body.replace(b'"50.00"', b'"5000.00"')
    forged = dict(genuine.headers, **{"webhook-signature": "v1," + base64.b64encode(b"x" * 32).decode()})
    unsigned = {k: v for k, v in genuine.headers.items() if not k.startswith("webhook-")}
    for headers, body in ((genuine.headers, richer), (forged, genuine.body), (unsigned, genuine.body)):
        with pytest.raises(CallbackRejected):
            kivra.parse_callback(Callback("POST", genuine.url, headers, body))


def test_documented_webhooks_verify_and_parse(kivra, settings):
    vector = fixture("standard_webhooks_vector.json")
    verify_standard_webhook(webhook_key(vector["secret"]), vector, vector["payload"].encode(), tolerance_s=10**10)
    body, stamp = (FIXTURES / "payment_webhook.json").read_bytes(), str(int(time.time()))
    key = webhook_key(settings.kivra.webhook_secret.get_secret_value())
    signature = base64.b64encode(hmac.new(key, f"msg-1.{stamp}.".encode() + body, hashlib.sha256).digest()).decode()
    [paid] = kivra.parse_callback(Callback("POST", "https://us/webhooks/kivra", {
        "webhook-id": "msg-1", "webhook-timestamp": stamp, "webhook-signature": f"v1,{signature}"}, body))
    assert (paid.reference, paid.amount, paid.paid_on, paid.message_id) == (
        "426523791", Decimal("123.50"), date(2025, 4, 24), None)
    envelope = (FIXTURES / "event_envelope.json").read_bytes()
    mac = hmac.new(key, stamp.encode() + b":" + envelope, hashlib.sha256).hexdigest()
    headers = {"x-kivra-timestamp": stamp, "x-kivra-signature": f"v1=00, v1={mac}"}  # two secrets in rotation
    assert kivra.parse_callback(Callback("POST", "https://us/webhooks/kivra", headers, envelope)) == []
    stale = str(int(stamp) - 3600)  # correctly signed, but an hour old: a replay
    stale_mac = hmac.new(key, stale.encode() + b":" + envelope, hashlib.sha256).hexdigest()
    with pytest.raises(CallbackRejected, match="tolerance"):
        kivra.parse_callback(Callback("POST", "https://us/webhooks/kivra",
                                      {"x-kivra-timestamp": stale, "x-kivra-signature": f"v1={stale_mac}"}, envelope))


def test_a_read_of_content_not_yet_known_as_ours_is_read_again_by_the_next_poll(sandbox, kivra, settings, tag):
    invoice = message(tag)
    [sent] = kivra.send([invoice])
    with httpx.Client(base_url=settings.kivra.base_url) as client:
        assert client.post("/_sandbox/read", json={"content_keys": [sent.provider_ref]}).json() == {"read": 1}
    recorded: dict[str, str] = {}  # the ledger's provider_refs: this send is not recorded yet
    early = KivraAdapter(settings.kivra, settings.webhooks.public_url, message_for=recorded.get)
    assert invoice.message_id not in {e.message_id for e in early.fetch_receipts()}
    held = early.feed_position()
    recorded[sent.provider_ref] = invoice.message_id  # now it is
    later = KivraAdapter(settings.kivra, settings.webhooks.public_url, message_for=recorded.get)
    later.resume_feed(held)
    assert [e.status for e in later.fetch_receipts() if e.message_id == invoice.message_id] == ["read"]
    assert [e.status for e in early.fetch_receipts() if e.message_id == invoice.message_id] == ["read"]
