"""Contract suite: TwilioAdapter against the sandbox's imitation of Twilio Programmable Messaging."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import pytest
from pydantic import SecretStr

from channel_adapters.base import Callback, CallbackRejected, OutboundMessage, PermanentError, TransientError
from channel_adapters.twilio import TwilioAdapter, twilio_signature
from config.providers import TwilioSettings

FIXTURES = Path(__file__).parent / "fixtures" / "twilio"
DOCS_SID = "SMXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"


def message(tag: str, n: int = 0, recipient: str = "+46701234567") -> OutboundMessage:
    """An SMS with a stable 32-hex id made from the test's tag."""
    return OutboundMessage(message_id=f"{tag}{n:024x}", channel="sms", document_id=f"D{n}", invoice_id=f"I{n}",
                           recipient=recipient, body_text="Faktura 1001: 1 250,00 kr, OCR 12345678")


@pytest.fixture
def adapter(settings):
    twilio = TwilioAdapter(settings.twilio, settings.webhooks.public_url)
    yield twilio
    twilio.close()



def signed(url: str, body: bytes, token: str = "sandbox-auth-token") -> Callback:
    params = parse_qsl(body.decode(), keep_blank_values=True)
    return Callback("POST", url, {"x-twilio-signature": twilio_signature(token, url, params)}, body)


def test_signature_matches_twilios_documented_example():
    example = json.loads((FIXTURES / "signature_example.json").read_text())
    assert twilio_signature(example["auth_token"], example["url"], example["params"].items()) == example["signature"]


def test_request_and_answer_have_the_documented_shape():
    seen: list[httpx.Request] = []

    def provider(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, content=(FIXTURES / "create_message_response.json").read_bytes())

    settings = TwilioSettings(base_url="https://api.twilio.com")
    twilio = TwilioAdapter(settings, "https://omnibill.example",
                           client=httpx.Client(transport=httpx.MockTransport(provider), auth=("AC", "t")))
    [result] = list(twilio.send([message("ab12cd34")]))
    documented = dict(parse_qsl((FIXTURES / "create_message_request.txt").read_text()))
    ours = dict(parse_qsl(seen[0].content.decode()))
    assert str(seen[0].url) == f"https://api.twilio.com/2010-04-01/Accounts/{settings.account_sid}/Messages.json"
    assert set(ours) == set(documented)
    assert ours["StatusCallback"] == f"https://omnibill.example/webhooks/twilio?m={message('ab12cd34').message_id}"
    assert (result.status, result.provider_ref, result.cost) == ("sent", DOCS_SID, None)  # price null when queued


@pytest.mark.parametrize(("fixture", "status", "permanent"), [
    ("status_callback_delivered.txt", "delivered", True),
    ("status_callback_undelivered.txt", "failed", False),  # 30003: handset unreachable, a soft failure
])
def test_documented_status_callbacks_parse(fixture, status, permanent):
    twilio = TwilioAdapter(TwilioSettings(), "https://omnibill.example")
    url = f"https://omnibill.example/webhooks/twilio?m={'ef' * 16}"
    [event] = twilio.parse_callback(signed(url, (FIXTURES / fixture).read_bytes()))
    assert (event.message_id, event.status, event.permanent) == ("ef" * 16, status, permanent)
    assert event.event_id.startswith(f"twilio:{DOCS_SID}:") and event.at.tzinfo is not None


def test_send_is_received_once_and_reported_back(adapter, sandbox, inbox, tag):
    before = sandbox.ledger.count("sms", unique=False)
    [result] = list(adapter.send([message(tag)]))
    assert result.status == "sent" and result.provider_ref.startswith("SM")
    assert sandbox.ledger.count("sms", unique=False) == before + 1
    events = [e for c in inbox.of_message(sandbox, message(tag).message_id) for e in adapter.parse_callback(c)]
    assert [(e.message_id, e.status, e.event_id) for e in events] == [
        (message(tag).message_id, "delivered", f"twilio:{result.provider_ref}:delivered")]  # "sent" is no event


def test_a_resend_reaches_the_phone_again_and_is_counted(adapter, sandbox, tag):
    """Twilio has no idempotency key on message create: the adapter says so, the sandbox counts the duplicate."""
    assert TwilioAdapter.deduplicates is False
    first, = adapter.send([message(tag)])
    second, = adapter.send([message(tag)])
    assert first.provider_ref != second.provider_ref
    keyed = [r for r in sandbox.ledger.list("sms") if r.idempotency_key == message(tag).message_id]
    assert len(keyed) == 2 and keyed[1].duplicate_of == keyed[0].id


def test_invalid_number_fails_permanently_overload_transiently(adapter, faults, tag):
    faults.update({"fail_keys": [message(tag, 2).message_id]})
    bad, ok, busy = adapter.send([message(tag, 1, recipient="0701234567"), message(tag, 3), message(tag, 2)])
    assert bad.status == "failed" and bad.permanent and "Twilio 21211" in bad.error and "0701234567" not in bad.error
    assert ok.status == "sent"
    assert busy.status == "failed" and not busy.permanent and "HTTP 429 Twilio 20429" in busy.error


def test_documented_error_body_is_read():
    body = (FIXTURES / "error_21211.json").read_bytes()
    client = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(400, content=body)))
    [result] = TwilioAdapter(TwilioSettings(), "https://omnibill.example", client=client).send([message("ab12cd34")])
    assert result.permanent and result.error.startswith("HTTP 400 Twilio 21211: The 'To' number ***1234")


def test_unreachable_provider_raises_transient_before_the_first_result(settings):
    dead = settings.twilio.model_copy(update={"base_url": "http://127.0.0.1:9/twilio"})
    with pytest.raises(TransientError):
        next(TwilioAdapter(dead, settings.webhooks.public_url).send([message("dead0000")]))


def test_wrong_credentials_raise_permanent_error(settings, tag):
    wrong = settings.twilio.model_copy(update={"auth_token": SecretStr("not-the-token")})
    with pytest.raises(PermanentError, match="401 Twilio 20003"):
        list(TwilioAdapter(wrong, settings.webhooks.public_url).send([message(tag)]))


def test_rejected_number_is_reported_undelivered_and_not_delivered(adapter, sandbox, inbox, faults, tag):
    faults.update({"reject_recipients": ["+46709999999"]})
    before = sandbox.ledger.count("sms", unique=False)
    [result] = adapter.send([message(tag, recipient="+46709999999")])
    assert result.status == "sent"  # Twilio takes it; the handset is unknown
    [event] = [e for c in inbox.of_message(sandbox, message(tag).message_id) for e in adapter.parse_callback(c)]
    assert (event.status, event.permanent, event.detail) == ("failed", True, "Twilio undelivered, error 30005")
    assert sandbox.ledger.count("sms", unique=False) == before


def test_tampered_callbacks_are_refused(adapter, sandbox, inbox, tag):
    list(adapter.send([message(tag)]))
    genuine = inbox.of_message(sandbox, message(tag).message_id)[-1]
    other_message = genuine.url.replace(message(tag).message_id, message(tag, 9).message_id)
    headers = dict(genuine.headers)
    unsigned = {k: v for k, v in headers.items() if k != "x-twilio-signature"}
    forged = {**headers, "x-twilio-signature": twilio_signature("guessed-token", genuine.url, [])}
    for url, hdrs, body in ((genuine.url, headers, genuine.body.replace(b"delivered", b"undelivered")),
                            (other_message, headers, genuine.body), (genuine.url, unsigned, genuine.body),
                            (genuine.url, forged, genuine.body), (genuine.url, headers, b"\xff\xfe")):
        with pytest.raises(CallbackRejected):
            adapter.parse_callback(Callback("POST", url, hdrs, body))
    assert adapter.parse_callback(genuine)[0].status == "delivered"


def test_polling_returns_the_same_events_as_the_callbacks(settings, sandbox, inbox, tag):
    polling = TwilioAdapter(settings.twilio, settings.webhooks.public_url)
    pushing = TwilioAdapter(settings.twilio, settings.webhooks.public_url)
    messages = [message(tag, n) for n in range(3)]
    list(polling.send(messages))
    pushed = [e for m in messages for c in inbox.of_message(sandbox, m.message_id)
              for e in pushing.parse_callback(c)]
    polled = polling.fetch_receipts()
    assert sorted((e.message_id, e.status, e.event_id) for e in polled) == \
           sorted((e.message_id, e.status, e.event_id) for e in pushed)
    assert polling.fetch_receipts() == []


def test_sandbox_lists_messages_in_pages(settings, sandbox, tag):
    """The list resource pages as Twilio's does (next_page_uri until the last page)."""
    twilio = TwilioAdapter(settings.twilio, settings.webhooks.public_url)
    list(twilio.send([message(tag, n) for n in range(3)]))
    page = twilio.client.get(f"{twilio.messages_url}.json", params={"PageSize": 2}).json()
    assert len(page["messages"]) == 2 and page["next_page_uri"].endswith("PageSize=2&Page=1")
    assert Decimal(page["messages"][0]["price"]) < 0


def test_a_new_process_polls_what_an_earlier_one_sent(settings, sandbox, tag):
    """After a restart the adapter knows nothing it sent: the ledger names the SIDs awaiting a report."""
    from datetime import datetime, timezone

    sender = TwilioAdapter(settings.twilio, settings.webhooks.public_url)
    messages = [message(tag, n) for n in range(2)]
    sent = [(r.message_id, r.provider_ref, datetime.now(timezone.utc)) for r in sender.send(messages)]
    later = TwilioAdapter(settings.twilio, settings.webhooks.public_url)
    assert later.fetch_receipts() == []
    later.awaiting(sent)
    assert sorted((e.message_id, e.status) for e in later.fetch_receipts()) == \
           sorted((m.message_id, "delivered") for m in messages)


def test_many_awaiting_a_status_are_read_from_the_message_list_in_pages(settings, sandbox, tag, monkeypatch):
    """Above LIST_ABOVE messages awaiting a status, a poll reads the account's list (our sender's messages, newest
    first) a page at a time, not one request per message."""
    from datetime import datetime, timedelta, timezone

    import channel_adapters.twilio as twilio_module

    monkeypatch.setattr(twilio_module, "LIST_ABOVE", 2)
    monkeypatch.setattr(twilio_module, "LIST_PAGE", 2)
    sender = TwilioAdapter(settings.twilio, settings.webhooks.public_url)
    other = TwilioAdapter(settings.twilio.model_copy(update={"sender": "OtherBrand"}), settings.webhooks.public_url)
    messages = [message(tag, n) for n in range(5)]
    sent = [(r.message_id, r.provider_ref, datetime.now(timezone.utc) - timedelta(days=1))
            for r in sender.send(messages)]
    list(other.send([message(tag, 8), message(tag, 9)]))  # another sender's, newest: not in our list
    later = TwilioAdapter(settings.twilio, settings.webhooks.public_url)
    asked: list[str] = []
    real_get = later.client.get
    monkeypatch.setattr(later.client, "get", lambda url, **kw: asked.append(str(url)) or real_get(url, **kw))
    later.awaiting(sent)
    events = later.fetch_receipts()
    assert sorted((e.message_id, e.status) for e in events) == sorted((m.message_id, "delivered") for m in messages)
    assert len(asked) == 3 and all(u.endswith("/Messages.json") or "Page=" in u for u in asked)  # 5 in pages of 2
    assert later.fetch_receipts() == [] and len(asked) == 3  # nothing left to ask about


def test_the_list_is_paged_no_further_back_than_a_day_before_the_oldest_send(settings, sandbox, tag, monkeypatch):
    from datetime import datetime, timedelta, timezone

    import channel_adapters.twilio as twilio_module

    monkeypatch.setattr(twilio_module, "LIST_ABOVE", 2)
    monkeypatch.setattr(twilio_module, "LIST_PAGE", 2)
    sender = TwilioAdapter(settings.twilio, settings.webhooks.public_url)
    in_two_days = datetime.now(timezone.utc) + timedelta(days=2)  # as if the ledger said so: Twilio's are older
    sent = [(r.message_id, r.provider_ref, in_two_days) for r in sender.send([message(tag, n) for n in range(5)])]
    later = TwilioAdapter(settings.twilio, settings.webhooks.public_url)
    asked: list[str] = []
    real_get = later.client.get
    monkeypatch.setattr(later.client, "get", lambda url, **kw: asked.append(str(url)) or real_get(url, **kw))
    later.awaiting(sent)
    assert len(later.fetch_receipts()) == 2 and len(asked) == 1  # the first page is already older: no more pages
