"""SMS gateway and digital-mailbox specifics: delivery reports, user matching, credentials, privacy."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from channel_adapters.base import PermanentError
from channel_adapters.digital_mailbox import DigitalMailboxAdapter
from channel_adapters.sms_gateway import SmsGatewayAdapter
from tests.adapters.helpers import outbound


def test_sms_delivery_reports_come_back_once_per_accepted_message(settings, tag):
    adapter = SmsGatewayAdapter(settings.gateway)
    batch = [outbound("sms", tag, i, "+46701234567") for i in range(2)]
    adapter.send_batch(batch)
    adapter.send_batch(batch)  # the repeat is not delivered again, so it is not reported again
    mine = [r for r in adapter.fetch_receipts() if r.message_id.startswith(tag)]
    assert [(r.message_id, r.status) for r in mine] == [(m.message_id, "delivered") for m in batch]
    assert adapter.fetch_receipts() == []


def test_the_sms_gateway_receives_the_text_and_the_reference(settings, sandbox, tag):
    message = outbound("sms", tag, 1, "+358401234567")
    [result] = SmsGatewayAdapter(settings.gateway).send_batch([message])
    [row] = [r for r in sandbox.ledger.list("sms") if r.idempotency_key == message.message_id]
    assert result.provider_ref == f"sms-{row.id}" and row.recipient == "+358401234567"
    body = (sandbox.directory / row.path).read_text()
    assert message.body_text in body and message.message_id in body


@pytest.mark.parametrize("adapter_class", [SmsGatewayAdapter, DigitalMailboxAdapter])
def test_wrong_credentials_stop_the_batch_instead_of_failing_each_message(settings, sandbox, tag, adapter_class):
    gateway = settings.gateway.model_copy(update={"api_key": SecretStr("not-the-key")})
    recipient = "+46701234567" if adapter_class is SmsGatewayAdapter else "198112189876"
    with pytest.raises(PermanentError, match="401"):
        adapter_class(gateway).send_batch([outbound(adapter_class.channel, tag, 1, recipient)])
    assert not [r for r in sandbox.ledger.list() if r.idempotency_key.startswith(tag)]


def test_mailbox_user_match_lists_the_registered_recipients(settings):
    adapter = DigitalMailboxAdapter(settings.gateway)
    assert adapter.registered("kivra", ["198112189876", "198112180000", "5567321707"]) == {
        "198112189876", "5567321707"}


def test_the_mailbox_keeps_the_pdf_but_only_a_masked_recipient(settings, sandbox, tag):
    message = outbound("mailbox", tag, 1, "198112189876", mailbox_provider="digipost")
    DigitalMailboxAdapter(settings.gateway).send_batch([message])
    [row] = [r for r in sandbox.ledger.list("mailbox") if r.idempotency_key == message.message_id]
    assert row.recipient == "digipost:********9876"
    assert (sandbox.directory / row.path).read_bytes() == message.attachments[0].content


def test_a_message_without_mailbox_provider_fails_permanently_without_a_request(settings, tag):
    message = outbound("mailbox", tag, 1, "198112189876", mailbox_provider="")
    [result] = DigitalMailboxAdapter(settings.gateway).send_batch([message])
    assert result.status == "failed" and result.permanent and "mailbox_provider" in result.error


def test_an_unknown_mailbox_provider_is_a_permanent_refusal(settings, tag):
    message = outbound("mailbox", tag, 1, "198112189876", mailbox_provider="pigeonpost")
    [result] = DigitalMailboxAdapter(settings.gateway).send_batch([message])
    assert result.permanent and "404" in result.error and "pigeonpost" in result.error


def test_the_sandbox_reports_its_counts_over_http(settings, sandbox, tag):
    SmsGatewayAdapter(settings.gateway).send_batch([outbound("sms", tag, 1, "+46701234567")] * 2)
    counts = httpx.get(f"http://127.0.0.1:{sandbox.http_port}/_sandbox/received", params={"channel": "sms"}).json()
    assert counts == {"total": sandbox.ledger.count("sms", unique=False), "unique": sandbox.ledger.count("sms")}
    assert counts["total"] - counts["unique"] >= 1


def test_sms_reports_page_with_a_cursor(settings, sandbox, tag):
    SmsGatewayAdapter(settings.gateway).send_batch([outbound("sms", tag, i, "+46701234567") for i in range(3)])
    url, auth = f"{settings.gateway.sms_url}/v1/reports", {"Authorization": "Bearer sandbox-key"}
    since, seen = 0, []
    while (page := httpx.get(url, params={"since": since, "limit": 2}, headers=auth).json())["reports"]:
        assert len(page["reports"]) <= 2
        seen += [r["reference"] for r in page["reports"]]
        since = page["next"]
    assert [k for k in seen if k.startswith(tag)] == [f"{tag}{i:04d}".ljust(32, "0") for i in range(3)]
