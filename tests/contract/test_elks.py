"""Contract suite: ElksAdapter against the sandbox's imitation of the 46elks API."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from channel_adapters.base import Callback, CallbackRejected, OutboundMessage, PermanentError, TransientError
from channel_adapters.elks import ElksAdapter
from config.providers import ElksSettings

FIXTURES = Path(__file__).parent / "fixtures" / "46elks"
KEY = b"contract-callback-key"


def message(tag: str, n: int = 0, recipient: str = "+46701234567",
            text: str = "Faktura 1001: 1 250,00 kr") -> OutboundMessage:
    """An SMS with a stable 32-hex id made from the test's tag."""
    return OutboundMessage(message_id=f"{tag}{n:024x}", channel="sms", document_id=f"D{n}", invoice_id=f"I{n}",
                           recipient=recipient, body_text=text)


@pytest.fixture
def adapter(settings):
    elks = ElksAdapter(settings.elks, settings.webhooks.public_url, KEY)
    yield elks
    elks.close()



def test_request_and_answer_have_the_documented_shape():
    """Our form has the documented fields (plus whendelivered); the documented answer maps to a result."""
    seen: list[httpx.Request] = []

    def provider(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=(FIXTURES / "send_sms_response.json").read_bytes())

    elks = ElksAdapter(ElksSettings(base_url="https://api.46elks.com/a1"), "https://omnibill.example", KEY,
                       client=httpx.Client(transport=httpx.MockTransport(provider), auth=("u", "p")))
    [result] = list(elks.send([message("ab12cd34")]))
    documented = dict(parse_qsl((FIXTURES / "send_sms_request.txt").read_text()))
    ours = dict(parse_qsl(seen[0].content.decode()))
    assert seen[0].url == "https://api.46elks.com/a1/sms" and seen[0].headers["authorization"].startswith("Basic ")
    assert set(ours) == set(documented) | {"whendelivered"}
    assert ours["whendelivered"].startswith("https://omnibill.example/webhooks/46elks?m=ab12cd34")
    assert result.status == "sent" and result.provider_ref == "s70df59406a1b4643b96f3f91e0bfb7b0"
    assert result.cost == Decimal("0.35")  # 3500 in 10000ths of the currency


def test_documented_delivery_report_parses_to_a_receipt():
    elks = ElksAdapter(ElksSettings(), "https://omnibill.example", KEY)
    mid = "ab12cd34" + "0" * 24
    callback = Callback("POST", elks.callback_url(mid), {"content-type": "application/x-www-form-urlencoded"},
                        (FIXTURES / "delivery_report.txt").read_bytes())
    [event] = elks.parse_callback(callback)
    assert (event.message_id, event.status) == (mid, "delivered")
    assert event.event_id == "46elks:s70df59406a1b4643b96f3f91e0bfb7b0:delivered"
    assert event.at == datetime(2018, 7, 13, 13, 57, 25, 101000, tzinfo=timezone.utc)


def test_send_is_received_once_and_reported_back(adapter, sandbox, inbox, tag):
    before = sandbox.ledger.count("sms", unique=False)
    [result] = list(adapter.send([message(tag)]))
    assert result.status == "sent" and result.provider_ref.startswith("s") and result.cost == Decimal("0.52")
    assert sandbox.ledger.count("sms", unique=False) == before + 1
    [callback] = inbox.of_message(sandbox, message(tag).message_id)
    [event] = adapter.parse_callback(callback)
    assert (event.message_id, event.status, event.event_id) == (
        message(tag).message_id, "delivered", f"46elks:{result.provider_ref}:delivered")
    assert event.at.tzinfo is not None


def test_a_resend_reaches_the_phone_again_and_is_counted(adapter, sandbox, tag):
    """46elks has no idempotency key: the adapter says so, and the sandbox counts the duplicate."""
    assert ElksAdapter.deduplicates is False
    list(adapter.send([message(tag)]))
    list(adapter.send([message(tag)]))
    keyed = [r for r in sandbox.ledger.list("sms") if r.idempotency_key == message(tag).message_id]
    assert len(keyed) == 2 and keyed[1].duplicate_of == keyed[0].id


def test_invalid_number_fails_permanently_outage_transiently(adapter, faults, tag):
    faults.update({"fail_keys": [message(tag, 2).message_id]})
    bad, ok, down = adapter.send([message(tag, 1, recipient="0701234567"), message(tag, 3), message(tag, 2)])
    assert bad.status == "failed" and bad.permanent and "Invalid to number" in bad.error
    assert "0701234567" not in bad.error
    assert ok.status == "sent"
    assert down.status == "failed" and not down.permanent and "503" in down.error


def test_unreachable_provider_raises_transient_before_the_first_result(settings):
    dead = settings.elks.model_copy(update={"base_url": "http://127.0.0.1:9/46elks/a1"})
    with pytest.raises(TransientError):
        next(ElksAdapter(dead, settings.webhooks.public_url, KEY).send([message("dead0000")]))


def test_wrong_credentials_raise_permanent_error(settings, tag):
    from pydantic import SecretStr
    wrong = settings.elks.model_copy(update={"password": SecretStr("not-the-password")})
    with pytest.raises(PermanentError, match="401"):
        list(ElksAdapter(wrong, settings.webhooks.public_url, KEY).send([message(tag)]))


def test_rejected_number_is_reported_failed_and_not_delivered(adapter, sandbox, inbox, faults, tag):
    faults.update({"reject_recipients": ["+46709999999"]})
    before = sandbox.ledger.count("sms", unique=False)
    [result] = list(adapter.send([message(tag, recipient="+46709999999")]))
    assert result.status == "sent"  # 46elks takes it; the phone network refuses it
    [callback] = inbox.of_message(sandbox, message(tag).message_id)
    [event] = adapter.parse_callback(callback)
    assert (event.status, event.permanent) == ("failed", True) and "9999" not in (event.detail or "")
    assert sandbox.ledger.count("sms", unique=False) == before


def test_tampered_callbacks_are_refused(adapter, sandbox, inbox, tag):
    list(adapter.send([message(tag, 1), message(tag, 2)]))
    one = inbox.of_message(sandbox, message(tag, 1).message_id)[0]
    two = inbox.of_message(sandbox, message(tag, 2).message_id)[0]
    forged_sig = one.url[:-4] + ("0000" if not one.url.endswith("0000") else "1111")
    other_message = one.url.replace(message(tag, 1).message_id, message(tag, 9).message_id)
    unsigned = one.url.split("&sig=")[0]
    for url, body in ((forged_sig, one.body), (other_message, one.body), (unsigned, one.body),
                      (one.url, two.body), (one.url, b"\xff\xfe"), (one.url, b"status=delivered")):
        with pytest.raises(CallbackRejected):
            adapter.parse_callback(Callback("POST", url, one.headers, body))


@pytest.mark.parametrize("by_id_up_to", [0, 50])  # the history paged two by two; GET /sms/{id} for each
def test_polling_returns_the_same_events_as_the_callbacks(settings, sandbox, inbox, tag, monkeypatch, by_id_up_to):
    """Polling yields the reports the callbacks carried (the pushed ones were lost)."""
    monkeypatch.setattr("channel_adapters.elks.BY_ID_UP_TO", by_id_up_to)
    polling = ElksAdapter(settings.elks.model_copy(update={"history_page_size": 2}),
                          settings.webhooks.public_url, KEY)
    pushing = ElksAdapter(settings.elks, settings.webhooks.public_url, KEY)
    messages = [message(tag, n) for n in range(3)]
    list(polling.send(messages))
    pushed = [e for m in messages for c in inbox.of_message(sandbox, m.message_id)
              for e in pushing.parse_callback(c)]
    polled = polling.fetch_receipts()
    assert sorted((e.message_id, e.status, e.event_id) for e in polled) == \
           sorted((e.message_id, e.status, e.event_id) for e in pushed)
    assert polling.fetch_receipts() == []


def test_documented_history_page_is_read(settings, monkeypatch):
    """The documented GET /sms answer: our pending SMS found in it, the others ignored."""
    monkeypatch.setattr("channel_adapters.elks.BY_ID_UP_TO", 0)
    body = json.loads((FIXTURES / "sms_history.json").read_text())
    body.pop("next")
    client = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200, json=body)))
    elks = ElksAdapter(settings.elks, settings.webhooks.public_url, KEY, client=client)
    created = datetime(2017, 3, 14, 9, 52, 7, tzinfo=timezone.utc)
    elks._pending["s17a6dafb12d6b1cabc053d57dac2b9d8"] = ("cd" * 16, created)
    [event] = elks.fetch_receipts()
    assert (event.message_id, event.status) == ("cd" * 16, "delivered")
    assert event.at == datetime(2017, 3, 14, 9, 52, 10, tzinfo=timezone.utc)


def test_a_new_process_polls_what_an_earlier_one_sent(settings, sandbox, tag):
    """After a restart the adapter knows nothing it sent: the ledger names the SMS awaiting a report."""
    from datetime import datetime, timezone

    sender = ElksAdapter(settings.elks, settings.webhooks.public_url, KEY)
    messages = [message(tag, n) for n in range(2)]
    sent = [(r.message_id, r.provider_ref, datetime.now(timezone.utc)) for r in sender.send(messages)]
    later = ElksAdapter(settings.elks, settings.webhooks.public_url, KEY)
    assert later.fetch_receipts() == []
    later.awaiting(sent)
    assert sorted((e.message_id, e.status) for e in later.fetch_receipts()) == \
           sorted((m.message_id, "delivered") for m in messages)


def test_a_few_pending_are_asked_for_by_id_and_an_unknown_one_is_dropped(settings):
    """GET /sms/{id} (https://46elks.se/docs/show-sms-id) for each of a few pending SMS, never the history: the
    documented answer read; one 46elks does not know (404) is no longer asked for; one not final stays pending."""
    answers = {
        "s17a6dafb12d6b1cabc053d57dac2b9d8": httpx.Response(200, json={
            "id": "s17a6dafb12d6b1cabc053d57dac2b9d8", "direction": "outgoing", "from": "MyService",
            "created": "2017-03-14T09:52:07.302000", "to": "+46704508449", "message": "Hello hello",
            "status": "delivered", "delivered": "2017-03-14T09:52:10Z", "cost": 3500}),
        "s299b2d2a467945f59e1c9ea431eed9d8": httpx.Response(404, text="No such SMS"),
        "s70df59406a1b4643b96f3f91e0bfb7b0": httpx.Response(200, json={
            "id": "s70df59406a1b4643b96f3f91e0bfb7b0", "status": "sent", "created": "2018-07-13T13:57:23.741000"}),
    }
    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        return answers[request.url.path.rsplit("/", 1)[-1]]

    elks = ElksAdapter(settings.elks, settings.webhooks.public_url, KEY,
                       client=httpx.Client(transport=httpx.MockTransport(answer)))
    created = datetime(2017, 3, 14, 9, 52, 7, tzinfo=timezone.utc)
    for n, elks_id in enumerate(answers):
        elks._pending[elks_id] = (f"{n:032x}", created)
    [event] = elks.fetch_receipts()
    assert (event.message_id, event.status) == (f"{0:032x}", "delivered")
    assert event.at == datetime(2017, 3, 14, 9, 52, 10, tzinfo=timezone.utc)
    assert sorted(asked) == sorted(f"{urlsplit(settings.elks.base_url).path}/sms/{i}" for i in answers)  # no history
    assert list(elks._pending) == ["s70df59406a1b4643b96f3f91e0bfb7b0"]  # sent, not final: asked again next time
