"""What the SMTP adapter puts on the wire, and how it handles a server that goes away mid-batch."""

from __future__ import annotations

import socket
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
from aiosmtpd.smtp import AuthResult
from pydantic import SecretStr

from channel_adapters.base import PermanentError
from channel_adapters.smtp import SmtpAdapter
from omnibill.sandbox.smtp_server import BoundController
from tests.adapters.helpers import outbound


def test_the_received_mail_has_text_html_pdf_and_the_stable_message_id(settings, sandbox, tag):
    message = outbound("email", tag, 1, "anna@example.test", pages=2)
    [result] = SmtpAdapter(settings.smtp).send_batch([message])
    [row] = [r for r in sandbox.ledger.list("email") if r.idempotency_key.startswith(tag)]
    mail = message_from_bytes((sandbox.directory / row.path).read_bytes(), policy=default_policy)
    assert mail["Message-ID"] == f"<{message.message_id}@omnibill>" == result.provider_ref
    assert (mail["From"], mail["To"], mail["Subject"]) == (settings.smtp.sender, "anna@example.test",
                                                           message.subject)
    assert mail.get_body(("plain",)).get_content().strip() == message.body_text
    assert mail.get_body(("html",)).get_content().strip() == message.body_html
    attached = {a.get_filename(): a.get_content() for a in mail.iter_attachments()}
    assert attached == {a.filename: a.content for a in message.attachments}


class ClosesAfterFirstMessage:
    """An MTA that accepts one message and then shuts down (421), as one being restarted does."""

    def __init__(self):
        self.accepted: list[str] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd hook)
        if self.accepted:
            return "421 4.3.2 service shutting down"
        self.accepted.append(message_from_bytes(envelope.content)["Message-ID"])
        return "250 OK"


def test_a_connection_lost_mid_batch_keeps_what_was_accepted_and_fails_the_rest_transiently(settings, tag):
    handler = ClosesAfterFirstMessage()
    server = BoundController(handler, socket.create_server(("127.0.0.1", 0)), server_hostname="mta.test")
    server.start()
    try:
        smtp = settings.smtp.model_copy(update={"port": server.port})
        batch = [outbound("email", tag, i, "anna@example.test") for i in range(3)]
        results = SmtpAdapter(smtp).send_batch(batch)
    finally:
        server.stop()
    assert [(r.status, r.permanent) for r in results] == [("sent", False), ("failed", False), ("failed", False)]
    assert "421" in results[1].error and "connection lost" in results[2].error
    assert handler.accepted == [f"<{batch[0].message_id}@omnibill>"]


def refuse_every_login(server, session, envelope, mechanism, auth_data) -> AuthResult:
    """An aiosmtpd authenticator answering 535 to any user (handled=False: aiosmtpd sends the reply)."""
    return AuthResult(success=False, handled=False)


def test_refused_credentials_stop_the_batch_instead_of_failing_each_message(settings, tag):
    server = BoundController(ClosesAfterFirstMessage(), socket.create_server(("127.0.0.1", 0)),
                             server_hostname="mta.test", authenticator=refuse_every_login, auth_require_tls=False)
    server.start()
    try:
        smtp = settings.smtp.model_copy(update={"port": server.port, "username": "someone",
                                                "password": SecretStr("wrong")})
        with pytest.raises(PermanentError, match="535"):
            SmtpAdapter(smtp).send_batch([outbound("email", tag, 1, "anna@example.test")])
    finally:
        server.stop()
