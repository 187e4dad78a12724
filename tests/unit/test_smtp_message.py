"""The MIME message the SMTP adapter writes: what a mail reader parses back from its bytes."""

from __future__ import annotations

import email
import email.policy

import pytest

from channel_adapters.base import Attachment, OutboundMessage
from channel_adapters.smtp import build_email, flatten


def _message(**changes) -> OutboundMessage:
    fields = dict(message_id="msg-1", channel="email", document_id="doc-1", invoice_id="F-1",
                  recipient="asa@example.test", subject="Din faktura från Vattenbolaget — december 2026",
                  body_text="Hej Åsa,\nhär är din faktura.\n", body_html="<p>Hej Åsa</p>",
                  attachments=(Attachment("Räkning F-1.pdf", "application/pdf", b"%PDF-1.7\n\x00\xff binary"),),
                  metadata={"from_name": "Vattenbolaget Åland AB"})
    return OutboundMessage(**{**fields, **changes})


def _parsed(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def test_a_reader_gets_back_every_header_part_and_byte():
    raw = flatten(build_email(_message(), "faktura@vatten.test"))
    assert raw.isascii() and b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    mail = _parsed(raw)
    assert mail["From"] == "Vattenbolaget Åland AB <faktura@vatten.test>"
    assert mail["Subject"] == "Din faktura från Vattenbolaget — december 2026"
    assert mail["Message-ID"] == "<msg-1@omnibill>" and mail["To"] == "asa@example.test"
    assert mail.get_content_type() == "multipart/mixed"
    assert mail.get_body(("plain",)).get_content() == "Hej Åsa,\nhär är din faktura.\n"
    assert mail.get_body(("html",)).get_content() == "<p>Hej Åsa</p>"
    [pdf] = mail.iter_attachments()
    assert pdf.get_filename() == "Räkning F-1.pdf" and pdf.get_content_type() == "application/pdf"
    assert pdf.get_content() == b"%PDF-1.7\n\x00\xff binary"


def test_a_text_only_mail_is_one_part():
    mail = _parsed(flatten(build_email(_message(body_html=None, attachments=()), "f@v.test")))
    assert mail.get_content_type() == "text/plain" and mail.get_content() == "Hej Åsa,\nhär är din faktura.\n"


@pytest.mark.parametrize("field", ["subject", "recipient"])
def test_a_line_break_in_a_header_is_refused_not_written(field):
    with pytest.raises(ValueError, match="line break"):
        build_email(_message(**{field: "x\r\nBcc: everyone@example.test"}), "f@v.test")


def test_a_utf8_address_is_written_as_is_for_smtputf8():
    raw = flatten(build_email(_message(recipient="åsa@exämple.test"), "f@v.test"), international=True)
    assert "To: åsa@exämple.test".encode() in raw and _parsed(raw)["To"] == "åsa@exämple.test"


@pytest.mark.parametrize("international", [False, True])
def test_the_bytes_are_those_of_the_standard_generator(international):
    from email.generator import BytesGenerator
    from io import BytesIO

    from channel_adapters.smtp import _CRLF

    big = _message(attachments=(Attachment("a.pdf", "application/pdf", bytes(range(256)) * 300),),
                   body_text="line one\nline two\r\nline three\n\n")
    mail = build_email(big, "f@v.test")
    stock = BytesIO()
    BytesGenerator(stock, mangle_from_=False,
                   policy=email.policy.SMTPUTF8 if international else _CRLF).flatten(mail)
    assert flatten(mail, international) == stock.getvalue()
