"""E-mail bounces: VERP envelope senders and RFC 3464 delivery status notifications read from a Maildir.

Sources: RFC 3464 (multipart/report; report-type=delivery-status, the message/delivery-status fields
Reporting-MTA, Final-Recipient, Action, Status, Diagnostic-Code, Last-Attempt-Date; Appendix B's example
is a test fixture), RFC 6522 (multipart/report), RFC 3463 (enhanced status codes: class 5 permanent,
class 4 persistent transient), RFC 3462 (text/rfc822-headers for returned headers), D. J. Bernstein's
VERP note (cr.yp.to/proto/verp.txt: sender `local+tag@domain`, the bounce comes back to that address).
Parsing is the stdlib `email` package and `mailbox.Maildir`; nothing here hand-parses MIME.
"""

from __future__ import annotations

import mailbox
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from email import message_from_bytes, message_from_string
from email.message import Message
from email.policy import default as default_policy
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path

from channel_adapters.base import ReceiptEvent

MESSAGE_ID = re.compile(r"^[0-9a-f]{32}$")
_OUR_MESSAGE_ID = re.compile(r"<?([0-9a-f]{32})@omnibill>?")
_ADDRESS = re.compile(r"<?[^\s<>@;,]+@[^\s<>;,]+>?")
_ACTIONS = {"failed": "bounced", "delayed": "bounced", "delivered": "delivered"}
# Headers an MTA uses to say to which address it delivered the bounce (Postfix, Exim, qmail, the sandbox).
_ENVELOPE_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "To")


def verp_sender(bounce_address: str, message_id: str) -> str:
    """The envelope sender for one message: `bounces@d` + id -> `bounces+<id>@d` (empty base: empty)."""
    if not bounce_address:
        return ""
    local, _, domain = bounce_address.partition("@")
    return f"{local}+{message_id}@{domain}"


def message_id_from_verp(address: str, bounce_address: str) -> str | None:
    """Our message id from a VERP address made by `verp_sender`, or None when it is not one of ours."""
    local, _, domain = bounce_address.partition("@")
    pattern = rf"{re.escape(local)}\+([0-9a-f]{{32}})@{re.escape(domain)}"
    found = re.fullmatch(pattern, address.strip().strip("<>"), flags=re.IGNORECASE)
    return found.group(1).lower() if found else None


@dataclass(frozen=True)
class DsnRecipient:
    """One per-recipient block of a delivery-status report (RFC 3464 section 2.3)."""

    action: str  # failed, delayed, delivered, relayed, expanded
    status: str  # enhanced status code, e.g. 5.1.1
    diagnostic: str  # the remote MTA's reply, without the diagnostic type ("smtp; ")
    last_attempt: datetime | None


def is_dsn(mail: Message) -> bool:
    """Whether a mail is a delivery status notification (multipart/report; report-type=delivery-status)."""
    return (mail.get_content_type() == "multipart/report"
            and str(mail.get_param("report-type", "")).lower() == "delivery-status")


def dsn_recipients(mail: Message) -> tuple[Message | None, list[DsnRecipient]]:
    """The per-message fields and the per-recipient blocks of a DSN (no blocks when it has no status part)."""
    part = next((p for p in mail.walk() if p.get_content_type() == "message/delivery-status"), None)
    blocks = part.get_payload() if part is not None else []
    if not isinstance(blocks, list) or not blocks:
        return None, []
    return blocks[0], [_recipient(block) for block in blocks[1:] if block.get("Action")]


def returned_message_id(mail: Message) -> str | None:
    """Our message id from the returned message or headers (message/rfc822 or text/rfc822-headers part)."""
    for part in mail.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            payload = part.get_payload()
            returned = payload[0] if isinstance(payload, list) and payload else None
        elif kind == "text/rfc822-headers":
            returned = message_from_string(part.get_content(), policy=default_policy)
        else:
            continue
        found = _OUR_MESSAGE_ID.fullmatch(str(returned.get("Message-ID", "")).strip()) if returned else None
        if found:
            return found.group(1)
    return None


def our_message_id(mail: Message, per_message: Message | None, bounce_address: str) -> str | None:
    """Which of our messages a DSN is about: VERP address, else Original-Envelope-Id, else the returned Message-ID."""
    for header in _ENVELOPE_HEADERS:
        for _, address in getaddresses([str(v) for v in mail.get_all(header, [])]):
            if bounce_address and (found := message_id_from_verp(address, bounce_address)):
                return found
    envelope_id = str(per_message.get("Original-Envelope-Id", "")).strip().lower() if per_message else ""
    if MESSAGE_ID.fullmatch(envelope_id):
        return envelope_id
    return returned_message_id(mail)


def receipts_from_dsn(mail: Message, key: str, bounce_address: str) -> list[ReceiptEvent] | None:
    """The receipt events of one DSN; None when the mail is no DSN about one of our messages."""
    if not is_dsn(mail):
        return None
    per_message, recipients = dsn_recipients(mail)
    message_id = our_message_id(mail, per_message, bounce_address)
    if message_id is None or not recipients:
        return None
    event_base = str(mail.get("Message-ID", "")).strip().strip("<>") or f"maildir:{key}"
    sent_at = _date(str(mail.get("Date", "")))
    events = []
    for n, r in enumerate(recipients):
        status = _ACTIONS.get(r.action)
        if status is None:  # relayed / expanded: no news about delivery
            continue
        detail = f"{r.status} {r.diagnostic}".strip() if status == "bounced" else None
        events.append(ReceiptEvent(message_id, status, detail=detail,
                                   event_id=event_base if len(recipients) == 1 else f"{event_base}#{n}",
                                   at=r.last_attempt or sent_at, permanent=r.status.startswith("5")))
    return events


class BounceMailbox:
    """The Maildir where bounces to our VERP addresses arrive; `poll` reads each new DSN once.

    A DSN that was read moves to `cur/` with the Seen flag; other mail stays in `new/` untouched
    (counted in `skipped`), for a human to look at.
    """

    def __init__(self, path: str | Path, bounce_address: str):
        self.path = Path(path)
        self.bounce_address = bounce_address
        self.skipped: set[str] = set()

    def poll(self) -> list[ReceiptEvent]:
        """Receipt events of the DSNs that arrived since the last poll (by anyone)."""
        if not (self.path / "new").is_dir():
            return []
        box = mailbox.Maildir(self.path, factory=None, create=False)
        events: list[ReceiptEvent] = []
        for key in self._new_keys():
            try:
                raw = box.get_bytes(key)
            except KeyError:  # another poller took it first
                continue
            found = receipts_from_dsn(message_from_bytes(raw, policy=default_policy), key, self.bounce_address)
            if found is None:
                self.skipped.add(key)
                continue
            events.extend(found)
            _mark_seen(box, key)
        return events

    def _new_keys(self) -> list[str]:
        names = sorted(p.name for p in (self.path / "new").iterdir() if not p.name.startswith("."))
        return [name.split(":", 1)[0] for name in names if name.split(":", 1)[0] not in self.skipped]


def _mark_seen(box: mailbox.Maildir, key: str) -> None:
    try:
        message = box.get_message(key)
        message.set_subdir("cur")
        message.add_flag("S")
        box[key] = message
    except KeyError:
        pass


def _recipient(block: Message) -> DsnRecipient:
    diagnostic = str(block.get("Diagnostic-Code", "")).partition(";")
    text = (diagnostic[2] or diagnostic[0]).strip()
    return DsnRecipient(action=str(block.get("Action", "")).strip().lower(),
                        status=str(block.get("Status", "")).strip().split(" ")[0],
                        diagnostic=" ".join(_ADDRESS.sub("<address>", text).split())[:200],
                        last_attempt=_date(str(block.get("Last-Attempt-Date", ""))))


def _date(value: str) -> datetime | None:
    try:
        at = parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError):
        return None
    return at.replace(tzinfo=timezone.utc) if at and at.tzinfo is None else at
