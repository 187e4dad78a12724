"""E-mail over SMTP: one connection per batch, HTML + text + attachments, a stable Message-ID."""

from __future__ import annotations

import smtplib
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formataddr, formatdate

from channel_adapters.base import (ChannelAdapter, DispatchResult, OutboundMessage, PermanentError,
                                   TransientError)
from config.settings import SmtpSettings


def message_id_header(message_id: str) -> str:
    """The Message-ID for a ledger message: stable, so a resend is recognisable as the same mail."""
    return f"<{message_id}@omnibill>"


def build_email(message: OutboundMessage, sender: str) -> EmailMessage:
    """The MIME message: text part, optional HTML alternative, then attachments."""
    mail = EmailMessage()
    name = message.metadata.get("from_name")
    mail["From"] = formataddr((name, sender)) if name else sender
    mail["To"] = message.recipient
    mail["Subject"] = message.subject
    mail["Date"] = formatdate(usegmt=True)
    mail["Message-ID"] = message_id_header(message.message_id)
    for name in ("List-Unsubscribe", "List-Unsubscribe-Post"):
        if message.metadata.get(name):
            mail[name] = message.metadata[name]
    mail.set_content(message.body_text or "")
    if message.body_html:
        mail.add_alternative(message.body_html, subtype="html")
    for attachment in message.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        mail.add_attachment(attachment.content, maintype=maintype, subtype=subtype or "octet-stream",
                            filename=attachment.filename)
    return mail


class SmtpAdapter(ChannelAdapter):
    """Sends each message of a batch over one SMTP session (STARTTLS and AUTH when configured)."""

    channel = "email"
    max_batch = 200
    body_maxlen = None

    def __init__(self, settings: SmtpSettings):
        self.settings = settings

    def send_batch(self, messages: Sequence[OutboundMessage]) -> list[DispatchResult]:
        """Send the batch; per-recipient refusals become failed results, an unreachable server raises."""
        if not messages:
            return []
        conn = self._connect()
        results: list[DispatchResult] = []
        try:
            for message in messages:
                try:
                    results.append(self._send_one(conn, message))
                except (smtplib.SMTPServerDisconnected, OSError) as exc:
                    # Whatever the server accepted before stays sent; the rest waits for a retry.
                    # The failing message itself may have been accepted: its stable Message-ID
                    # lets the receiving side recognise the resend.
                    reason = f"SMTP connection lost: {exc}"
                    results.extend(_failed(m, reason) for m in messages[len(results):])
                    break
        finally:
            _quit(conn)
        return results

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        conn = smtplib.SMTP(timeout=s.timeout_s)
        try:
            conn.connect(s.host, s.port)
            if s.starttls:
                conn.starttls()
            if s.username:
                conn.login(s.username, s.password.get_secret_value() if s.password else "")
        except (smtplib.SMTPAuthenticationError, smtplib.SMTPNotSupportedError) as exc:
            # Wrong credentials (or no STARTTLS/AUTH offered) are a configuration error, not a
            # message's: fail the batch loudly rather than push every message down its fallback chain.
            conn.close()
            raise PermanentError(f"SMTP {s.host}:{s.port} refused our TLS/AUTH setup: {_reply(exc)}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            conn.close()
            raise TransientError(f"SMTP server {s.host}:{s.port} unavailable: {exc}") from exc
        return conn

    def _send_one(self, conn: smtplib.SMTP, message: OutboundMessage) -> DispatchResult:
        try:
            mail = build_email(message, self.settings.sender)
            conn.send_message(mail, from_addr=self.settings.sender, to_addrs=[message.recipient])
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = exc.recipients.get(message.recipient, next(iter(exc.recipients.values())))
            return _refused(message, code, reply)
        except smtplib.SMTPResponseException as exc:  # sender refused, DATA refused
            return _refused(message, exc.smtp_code, exc.smtp_error)
        except smtplib.SMTPServerDisconnected:
            raise
        except (smtplib.SMTPException, ValueError) as exc:
            # This message cannot be sent as it is (e.g. a UTF-8 address the server does not
            # accept, a header with a line break): resending will not help.
            return DispatchResult(message.message_id, "failed", error=f"unsendable: {exc}", permanent=True)
        return DispatchResult(message.message_id, "sent", provider_ref=message_id_header(message.message_id))


def _refused(message: OutboundMessage, code: int, reply: bytes | str) -> DispatchResult:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else reply
    return DispatchResult(message.message_id, "failed", error=f"{code} {text}", permanent=500 <= code < 600)


def _failed(message: OutboundMessage, reason: str) -> DispatchResult:
    return DispatchResult(message.message_id, "failed", error=reason, permanent=False)


def _reply(exc: smtplib.SMTPException) -> str:
    if not isinstance(exc, smtplib.SMTPResponseException):
        return str(exc)
    error = exc.smtp_error
    return f"{exc.smtp_code} {error.decode(errors='replace') if isinstance(error, bytes) else error}"


def _quit(conn: smtplib.SMTP) -> None:
    try:
        conn.quit()
    except (OSError, smtplib.SMTPException):
        conn.close()
