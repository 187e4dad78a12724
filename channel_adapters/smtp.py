"""E-mail over SMTP: `connections` sessions kept open across batches, HTML + text + attachments, a stable Message-ID.

Each message goes out from its own VERP envelope sender (`MAIL FROM:<bounces+<message id>@domain>`),
so an asynchronous bounce (an RFC 3464 DSN delivered to the bounce Maildir) names the message it is
about; see `channel_adapters/bounces.py` for the sources. SMTP (RFC 5321) has no idempotency: a
resend is delivered again, so results are yielded one by one and recorded before the next message.
"""

from __future__ import annotations

import hashlib
import io
import smtplib
import threading
from collections.abc import Iterator, Sequence
from email.encoders import encode_base64
from email.generator import NLCRE, BytesGenerator
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import SMTPUTF8, compat32
from email.utils import formataddr, formatdate
from pathlib import Path

from channel_adapters.base import (Attachment, ChannelAdapter, DispatchResult, OutboundMessage, PermanentError,
                                   ReceiptEvent, TransientError)
from channel_adapters.bounces import BounceMailbox, verp_sender
from channel_adapters.sending import ProviderLost, SendPool
from config.settings import SmtpSettings


def bounce_maildir(settings: SmtpSettings, data_dir: str | Path) -> Path:
    """Where bounces arrive: `bounce_maildir`, or `<data_dir>/bounces` when it is empty."""
    return Path(settings.bounce_maildir) if settings.bounce_maildir else Path(data_dir) / "bounces"


_CRLF = compat32.clone(linesep="\r\n")


def message_id_header(message_id: str) -> str:
    """The Message-ID for a ledger message: stable, so a resend is recognisable as the same mail."""
    return f"<{message_id}@omnibill>"


def build_email(message: OutboundMessage, sender: str) -> Message:
    """The MIME message: text part, optional HTML alternative, then attachments.

    Built from `email.mime` parts on the compat32 policy: the same structure as `EmailMessage` would give,
    at a third of the CPU (its header objects parse and fold every header of every part, ~4 ms a mail).
    """
    name = message.metadata.get("from_name")
    headers = {"From": formataddr((name, sender)) if name else sender, "To": message.recipient,
               "Subject": message.subject, "Date": formatdate(usegmt=True),
               "Message-ID": message_id_header(message.message_id)}
    for header in ("List-Unsubscribe", "List-Unsubscribe-Post"):
        if message.metadata.get(header):
            headers[header] = message.metadata[header]
    for header, value in headers.items():
        if "\r" in value or "\n" in value:  # would end the header and start another (header injection)
            raise ValueError(f"the {header} header holds a line break")
    # Every leaf part is base64, whose lines never hold "-": no boundary can clash with the content, so the
    # boundaries are given (from the message id, like the Message-ID) instead of searched for in the content.
    mark = hashlib.sha256(message.message_id.encode()).hexdigest()[:32]
    body: Message = MIMEText(message.body_text or "", "plain", "utf-8")
    if message.body_html:
        body = MIMEMultipart("alternative", f"=_alt_{mark}",
                             [body, MIMEText(message.body_html, "html", "utf-8")])
    if message.attachments:
        body = MIMEMultipart("mixed", f"=_mix_{mark}", [body, *map(_attachment, message.attachments)])
    for header, value in headers.items():
        body[header] = value
    return body


def flatten(mail: Message, international: bool = False) -> bytes:
    """The message as SMTP DATA (CRLF lines); `international` keeps UTF-8 addresses as they are (RFC 6532)."""
    out = io.BytesIO()
    _Generator(out, mangle_from_=False, policy=SMTPUTF8 if international else _CRLF).flatten(mail)
    return out.getvalue()


class _Generator(BytesGenerator):
    """The standard generator, writing a part's body in one piece instead of splitting it into lines.

    A 75 kB attachment is ~1,000 base64 lines, each split out by a regular expression and written twice by
    the stock generator. Same bytes (`tests/unit/test_smtp_message.py` compares them with the stock one).
    """

    def _write_lines(self, lines: str) -> None:
        if not lines:
            return
        if "\r" in lines:  # mixed line ends: the stock way
            self.write(self._NL.join(NLCRE.split(lines)))
        else:  # only "\n" (base64 bodies, and most text): one replace in C
            self.write(lines.replace("\n", self._NL))


def _attachment(attachment: Attachment) -> MIMEBase:
    maintype, _, subtype = attachment.content_type.partition("/")
    part = MIMEBase(maintype, subtype or "octet-stream")
    part.set_payload(attachment.content)
    encode_base64(part)
    name = attachment.filename
    part.add_header("Content-Disposition", "attachment", filename=name if name.isascii() else ("utf-8", "", name))
    return part


class SmtpAdapter(ChannelAdapter):
    """Sends messages over `connections` SMTP sessions at once (STARTTLS and AUTH when configured).

    Sessions stay open across batches until `close()` (one per worker thread; one checked with NOOP before
    a batch reuses it). `deduplicates` is False: SMTP cannot recognise a resend, so the dispatcher records
    each result before asking for the next, and at most `connections` messages are in flight at any time:
    a crash repeats at most that many.
    """

    channel = "email"
    provider = "smtp"
    max_batch = 200
    body_maxlen = None
    deduplicates = False

    def __init__(self, settings: SmtpSettings, bounce_maildir: str | Path | None = None, connections: int = 1):
        self.settings = settings
        maildir = bounce_maildir or settings.bounce_maildir
        self.bounces = BounceMailbox(maildir, settings.bounce_address) if maildir else None
        self.pool = SendPool(connections)
        self._sessions = _Sessions(self._connect)

    @property
    def connections(self) -> int:
        """SMTP sessions used at once."""
        return self.pool.connections

    @connections.setter
    def connections(self, value: int) -> None:
        self.pool.close()
        self.pool = SendPool(value)

    def send(self, messages: Sequence[OutboundMessage]) -> Iterator[DispatchResult]:
        """Send over the sessions, yielding each result as it comes; refusals fail a message, an unreachable
        server raises, a lost session fails the rest transiently."""
        if not messages:
            return
        self._sessions.new_batch()
        yield from self.pool.send(messages, self._over_session)

    def close(self) -> None:
        """Stop the workers and end every SMTP session."""
        self.pool.close()
        self._sessions.close()

    def _over_session(self, message: OutboundMessage) -> DispatchResult:
        conn = self._sessions.get()
        try:
            return self._send_one(conn, message)
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            # Whatever the server accepted before stays sent; the rest waits for a retry. The failing
            # message itself may have been accepted: its stable Message-ID lets the receiver recognise it.
            self._sessions.drop(conn)
            raise ProviderLost(f"SMTP connection lost: {exc}") from exc

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
            envelope = self.envelope_sender(message)
            international = not (envelope + message.recipient).isascii()
            conn.ehlo_or_helo_if_needed()
            if international and not conn.has_extn("smtputf8"):
                raise smtplib.SMTPNotSupportedError("a UTF-8 address, and the server does not offer SMTPUTF8")
            data = flatten(build_email(message, self.settings.sender), international)
            conn.sendmail(envelope, [message.recipient], data, mail_options=["SMTPUTF8"] if international else [])
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


class _Sessions:
    """One SMTP session per worker thread, opened on first use; a session idle since the last batch is
    checked with NOOP (the server may have closed it) and reopened when it does not answer."""

    def __init__(self, connect):
        self.connect = connect
        self.batch = 0
        self._local = threading.local()
        self._open: set[smtplib.SMTP] = set()
        self._lock = threading.Lock()

    def new_batch(self) -> None:
        """Sessions are checked again before their first use in this batch."""
        self.batch += 1

    def get(self) -> smtplib.SMTP:
        """This thread's session, opened or checked as needed."""
        conn, batch = getattr(self._local, "conn", None), getattr(self._local, "batch", None)
        if conn is not None and (conn not in self._open or (batch != self.batch and not _alive(conn))):
            self.drop(conn)
            conn = None
        if conn is None:
            conn = self.connect()
            with self._lock:
                self._open.add(conn)
        self._local.conn, self._local.batch = conn, self.batch
        return conn

    def drop(self, conn: smtplib.SMTP) -> None:
        """Forget and end a session."""
        with self._lock:
            self._open.discard(conn)
        _quit(conn)

    def close(self) -> None:
        """End every session."""
        with self._lock:
            sessions, self._open = self._open, set()
        for conn in sessions:
            _quit(conn)


def _alive(conn: smtplib.SMTP) -> bool:
    try:
        return conn.noop()[0] == 250
    except (OSError, smtplib.SMTPException):
        return False


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
