"""E-mail over SMTP: one connection per batch, HTML + text + attachments, a stable Message-ID.

Each message goes out from its own VERP envelope sender (`MAIL FROM:<bounces+<message id>@domain>`),
so an asynchronous bounce (an RFC 3464 DSN delivered to the bounce Maildir) names the message it is
about; see `channel_adapters/bounces.py` for the sources. SMTP (RFC 5321) has no idempotency: a
resend is delivered again, so results are yielded one by one and recorded before the next message.
"""

from __future__ import annotations

import smtplib
from collections.abc import Iterator, Sequence
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from pathlib import Path

from channel_adapters.base import (ChannelAdapter, DispatchResult, OutboundMessage, PermanentError,
                                   ReceiptEvent, TransientError)
from channel_adapters.bounces import BounceMailbox, verp_sender
from config.settings import SmtpSettings


def bounce_maildir(settings: SmtpSettings, data_dir: str | Path) -> Path:
    """Where bounces arrive: `bounce_maildir`, or `<data_dir>/bounces` when it is empty."""
    return Path(settings.bounce_maildir) if settings.bounce_maildir else Path(data_dir) / "bounces"


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
    """Sends each message of a batch over one SMTP session (STARTTLS and AUTH when configured).

    `deduplicates` is False: SMTP cannot recognise a resend, so the dispatcher records each result
    before asking for the next and a crash repeats at most the one message in flight.
    """

    channel = "email"
    provider = "smtp"
    max_batch = 200
    body_maxlen = None
    deduplicates = False

    def __init__(self, settings: SmtpSettings, bounce_maildir: str | Path | None = None):
        self.settings = settings
        maildir = bounce_maildir or settings.bounce_maildir
        self.bounces = BounceMailbox(maildir, settings.bounce_address) if maildir else None

    def send(self, messages: Sequence[OutboundMessage]) -> Iterator[DispatchResult]:
        """Send one message at a time, yielding its result; refusals fail it, an unreachable server raises."""
        if not messages:
            return
        conn = self._connect()
        try:
            for done, message in enumerate(messages):
                try:
                    result = self._send_one(conn, message)
                except (smtplib.SMTPServerDisconnected, OSError) as exc:
                    # Whatever the server accepted before stays sent; the rest waits for a retry.
                    # The failing message itself may have been accepted: its stable Message-ID
                    # lets the receiving side recognise the resend.
                    reason = f"SMTP connection lost: {exc}"
                    for rest in messages[done:]:
                        yield _failed(rest, reason)
                    return
                yield result
        finally:
            _quit(conn)

    def fetch_receipts(self) -> list[ReceiptEvent]:
        """Bounces (RFC 3464 DSNs) that arrived in the bounce Maildir since the last call."""
        return list(self.bounces.poll()) if self.bounces else []

    def envelope_sender(self, message: OutboundMessage) -> str:
        """The VERP `MAIL FROM` of a message (the From header stays the tenant's sender)."""
        return verp_sender(self.settings.bounce_address, message.message_id) or self.settings.sender

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
            conn.send_message(mail, from_addr=self.envelope_sender(message), to_addrs=[message.recipient])
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
