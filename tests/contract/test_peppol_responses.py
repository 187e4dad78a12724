"""Contract suite: EInvoiceDropAdapter against the sandbox access point, which answers with PEPPOL MLRs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from channel_adapters.base import Attachment, OutboundMessage
from channel_adapters.einvoice import EInvoiceDropAdapter
from channel_adapters.peppol_responses import (MLR_CUSTOMIZATION, message_id_of, parse_application_response,
                                               receipt_from_response)
from omnibill.sandbox.access_point import SandboxAccessPoint
from omnibill.sandbox.faults import Faults
from omnibill.store import LocalStore

FIXTURES = Path(__file__).parent / "fixtures" / "peppol"
INVOICE = (FIXTURES / "peppol-base-example.xml").read_bytes()  # buyer endpoint 0002:FR23342


def einvoice(tag: str, n: int, xml: bytes = INVOICE) -> OutboundMessage:
    """An e-invoice message with a stable 32-hex id made from the test's tag."""
    return OutboundMessage(message_id=f"{tag}{n:024x}", channel="einvoice", document_id=f"D{n}", invoice_id=f"I{n}",
                           recipient="0002:FR23342", attachments=(Attachment(f"I{n}.xml", "application/xml", xml),),
                           metadata={"drop_prefix": f"demo/{tag}"})


@pytest.fixture
def faults() -> Faults:
    return Faults()


@pytest.fixture
def drop(tmp_path) -> LocalStore:
    return LocalStore(tmp_path / "drops" / "einvoice")


@pytest.fixture
def access_point(drop, faults):
    ap = SandboxAccessPoint(drop, faults, interval_s=0.05).start()
    yield ap
    ap.stop()


def receipts_for(adapter: EInvoiceDropAdapter, n: int, timeout_s: float = 5.0) -> list:
    """Poll like the receipts stage does until `n` events arrived."""
    events, deadline = [], time.monotonic() + timeout_s
    while len(events) < n and time.monotonic() < deadline:
        events += adapter.fetch_receipts()
        time.sleep(0.05)
    return events


def test_an_accepted_invoice_is_delivered_once_and_a_resend_is_not_answered_again(drop, access_point, tag):
    adapter, sent = EInvoiceDropAdapter(drop), einvoice(tag, 1)
    [result] = list(adapter.send([sent]))
    assert result.provider_ref == f"demo/{tag}/{sent.message_id}.xml"
    [event] = receipts_for(adapter, 1)
    assert (event.message_id, event.status, event.permanent) == (sent.message_id, "delivered", False)
    assert event.at.tzinfo is not None and event.event_id.startswith("peppol:mlr:MLR-")
    list(adapter.send([sent]))  # same file name: overwritten, and the access point has answered it already
    access_point.poll_once()
    assert drop.keys(f"demo/{tag}") == [result.provider_ref]
    assert drop.keys("responses") == [f"responses/demo/{tag}/{sent.message_id}.mlr.xml"]
    assert adapter.fetch_receipts() == [] and EInvoiceDropAdapter.deduplicates


def test_the_sandbox_mlr_has_the_shape_of_the_official_example(drop, access_point, tag):
    adapter, sent = EInvoiceDropAdapter(drop), einvoice(tag, 1)
    list(adapter.send([sent]))
    receipts_for(adapter, 1)
    ours = parse_application_response(drop.get(f"responses/demo/{tag}/{sent.message_id}.mlr.xml"))
    official = parse_application_response((FIXTURES / "mlr-snippet-2-accept.xml").read_bytes())
    assert (ours.kind, ours.response_code) == (official.kind, official.response_code) == ("mlr", "AP")
    assert ours.document_reference == sent.message_id
    xml = drop.get(f"responses/demo/{tag}/{sent.message_id}.mlr.xml").decode()
    assert MLR_CUSTOMIZATION in xml and 'schemeID="0002">FR23342<' in xml  # the buyer answers


def test_an_unreachable_receiver_is_rejected_permanently_with_the_reason(drop, access_point, faults, tag):
    faults.update({"reject_recipients": ["0002:FR23342"]})
    adapter, sent = EInvoiceDropAdapter(drop), einvoice(tag, 1)
    list(adapter.send([sent]))
    [event] = receipts_for(adapter, 1)
    assert (event.status, event.permanent) == ("failed", True)
    assert "BV: Receiver 0002:***3342 is not registered" in event.detail and "FR23342" not in event.detail


@pytest.mark.parametrize("xml, reason", [(b"<Invoice><unclosed></Invoice>", "SV: The document is not well-formed XML"),
                                         (b"<Order xmlns='urn:x'/>", "SV: Document type Order is not a UBL"),
                                         (b"<Invoice xmlns='urn:oasis:names:specification:ubl:schema:xsd:Invoice-2'/>",
                                          "BV: [PEPPOL-EN16931-R010]")])
def test_a_document_that_is_no_valid_ubl_invoice_is_rejected(drop, access_point, tag, xml, reason):
    adapter, sent = EInvoiceDropAdapter(drop), einvoice(tag, 1, xml)
    list(adapter.send([sent]))
    [event] = receipts_for(adapter, 1)
    assert (event.message_id, event.status, event.permanent) == (sent.message_id, "failed", True)
    assert reason in event.detail


def test_a_slow_access_point_answers_later_and_the_adapter_keeps_polling(drop, faults, tag):
    ap, adapter, sent = SandboxAccessPoint(drop, faults), EInvoiceDropAdapter(drop), einvoice(tag, 1)
    faults.update({"down_channels": ["einvoice"]})
    list(adapter.send([sent]))
    assert ap.poll_once() == 0 and adapter.fetch_receipts() == []
    faults.update({"down_channels": []})
    assert ap.poll_once() == 1 and [e.status for e in adapter.fetch_receipts()] == ["delivered"]


def test_responses_in_their_own_location(tmp_path, faults, tag):
    drop, responses = LocalStore(tmp_path / "drop"), LocalStore(tmp_path / "responses")
    ap, adapter = SandboxAccessPoint(drop, faults, responses), EInvoiceDropAdapter(drop, responses)
    sent = einvoice(tag, 1)
    list(adapter.send([sent]))
    assert ap.poll_once() == 1 and responses.keys() == [f"demo/{tag}/{sent.message_id}.mlr.xml"]
    assert [e.message_id for e in adapter.fetch_receipts()] == [sent.message_id]


def test_the_official_mlr_rejection_example_reads_as_a_permanent_failure():
    response = parse_application_response((FIXTURES / "MessageLevelResponse_Example.xml").read_bytes())
    assert (response.kind, response.response_code, response.document_reference) == ("mlr", "RE", "EnvelopeID-12456789")
    assert message_id_of(response, "responses/x.xml") is None  # its envelope id is no message of ours
    event = receipt_from_response(response, "0123456789abcdef0123456789abcdef")
    assert (event.status, event.permanent) == ("failed", True)
    assert "BV: Validation gives error [CL-T77-R002]" in event.detail
    assert event.at.isoformat() == "2016-08-15T12:00:00+00:00"


def test_the_official_mlr_with_two_line_responses_keeps_both_reasons():
    response = parse_application_response((FIXTURES / "mlr-snippet-3-reject.xml").read_bytes())
    assert [r[:4] for r in response.reasons] == ["BV: ", "BV: "] and len(response.reasons) == 2


def test_the_official_invoice_response_rejection_names_its_reason():
    response = parse_application_response((FIXTURES / "InvoiceResponse_Example.xml").read_bytes())
    assert (response.kind, response.response_code, response.document_reference) == ("invoice_response", "RE", "inv021")
    event = receipt_from_response(response, "0123456789abcdef0123456789abcdef")
    assert event.status == "failed" and "NOA: VAT Reference not found" in event.detail


def test_a_response_file_that_is_no_application_response_is_set_aside(drop, tag):
    drop.put(f"responses/demo/{tag}/junk.xml", b"<not-ubl/>")
    adapter = EInvoiceDropAdapter(drop)
    assert adapter.fetch_receipts() == [] and adapter.unreadable == [f"responses/demo/{tag}/junk.xml"]


@pytest.mark.parametrize("own_location", [False, True])
def test_a_response_whose_event_is_kept_is_set_aside_and_never_read_again(tmp_path, faults, tag, own_location):
    drop = LocalStore(tmp_path / "drop")
    responses = LocalStore(tmp_path / "responses") if own_location else None
    ap, adapter = SandboxAccessPoint(drop, faults, responses), EInvoiceDropAdapter(drop, responses)
    first, second = einvoice(tag, 1), einvoice(tag, 2)
    list(adapter.send([first]))
    assert ap.poll_once() == 1 and [e.message_id for e in adapter.fetch_receipts()] == [first.message_id]
    adapter.receipts_kept()
    where = responses or drop
    assert where.keys(adapter.read_prefix) == [f"{adapter.read_prefix}/demo/{tag}/{first.message_id}.mlr.xml"]
    list(adapter.send([second]))
    assert ap.poll_once() == 1  # the access point answers the new invoice only: the moved answer still counts
    later = EInvoiceDropAdapter(drop, responses)  # a poll in another process
    assert [e.message_id for e in later.fetch_receipts()] == [second.message_id]
    # a response read but not yet kept (the stage failed before its transaction) is read again
    assert [e.message_id for e in EInvoiceDropAdapter(drop, responses).fetch_receipts()] == [second.message_id]
