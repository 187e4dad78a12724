"""The sandbox SMTP server: aiosmtpd on loopback, a relay that keeps every message it accepts as .eml.

Like a relay (RFC 5321 section 6.1), it accepts mail for recipients it cannot deliver to and then
returns an RFC 3464 delivery status notification to the envelope sender, delivered into the bounce
Maildir (where the MTA of the bounce domain would put it). Recipients, by local part:
`bounce*` refused at RCPT with 550 5.1.1 (the synchronous path: a relay that checks recipients up
front); `unknown*` or any address in `Faults.reject_recipients` accepted, then bounced (Action: failed,
Status: 5.1.1); `full*` accepted, then a delay notice (Action: delayed, Status: 4.2.2, mailbox full).
"""

from __future__ import annotations

import asyncio
import hashlib
import mailbox
import socket
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.policy import default as default_policy
from email.utils import formatdate
from pathlib import Path

from aiosmtpd.controller import Controller

from omnibill.sandbox.faults import Faults
from omnibill.sandbox.received import SandboxLedger

SANDBOX_HOSTNAME = "sandbox.omnibill.test"


def bounce_for(address: str, faults: Faults) -> tuple[str, str, str] | None:
    """(action, status, diagnostic) of the DSN this relay sends for a recipient, or None when it delivers."""
    local = address.split("@", 1)[0].lower()
    if local.startswith("unknown") or faults.rejects(address):
        return "failed", "5.1.1", "550 5.1.1 Recipient address rejected: User unknown"
    if local.startswith("full"):
        return "delayed", "4.2.2", "452 4.2.2 Mailbox full, message deferred"
    return None


def build_dsn(sender: str, failures: list[tuple[str, str, str, str]], original: Message, queue_id: str,
              hostname: str) -> EmailMessage:
    """An RFC 3464 report to `sender` about (recipient, action, status, diagnostic) of one accepted message."""
    delayed = all(action == "delayed" for _, action, _, _ in failures)
    dsn = EmailMessage()
    dsn["From"] = f"Mail Delivery System <MAILER-DAEMON@{hostname}>"
    dsn["To"] = sender
    dsn["Delivered-To"] = sender
    dsn["Subject"] = "Delayed Mail (still being retried)" if delayed else "Undelivered Mail Returned to Sender"
    dsn["Date"] = formatdate(localtime=False, usegmt=True)
    dsn["Message-ID"] = f"<{queue_id}.{hashlib.sha256(sender.encode()).hexdigest()[:12]}.dsn@{hostname}>"
    dsn["Auto-Submitted"] = "auto-replied"
    dsn.set_content("This is the mail system at host " + hostname + ".\n\n"
                    + ("Your message could not yet be delivered; delivery will be retried.\n" if delayed else
                       "Your message could not be delivered to one or more recipients.\n"))
    dsn.make_mixed()
    dsn.set_param("report-type", "delivery-status")
    dsn.replace_header("Content-Type", dsn["Content-Type"].replace("multipart/mixed", "multipart/report"))
    dsn.attach(_status_part(failures, queue_id, hostname))
    headers = EmailMessage()
    headers.set_content("".join(f"{k}: {v}\n" for k, v in original.items()), subtype="rfc822-headers")
    dsn.attach(headers)
    return dsn


def _status_part(failures: list[tuple[str, str, str, str]], queue_id: str, hostname: str) -> Message:
    now = formatdate(localtime=False, usegmt=True)
    per_message = Message()
    per_message["Reporting-MTA"] = f"dns; {hostname}"
    per_message["X-Queue-ID"] = queue_id
    per_message["Arrival-Date"] = now
    blocks = [per_message]
    for recipient, action, status, diagnostic in failures:
        block = Message()
        block["Final-Recipient"] = f"rfc822; {recipient}"
        block["Original-Recipient"] = f"rfc822; {recipient}"
        block["Action"] = action
        block["Status"] = status
        block["Remote-MTA"] = f"dns; mx.{recipient.rpartition('@')[2]}"
        block["Diagnostic-Code"] = f"smtp; {diagnostic}"
        block["Last-Attempt-Date"] = now
        blocks.append(block)
    part = Message()
    part["Content-Type"] = "message/delivery-status"
    part["Content-Description"] = "Delivery report"
    part.set_payload(blocks)
    return part


class SandboxSmtpHandler:
    """aiosmtpd handler: refuses `bounce*` at RCPT, fails some DATA transiently, records the rest, sends DSNs."""

    def __init__(self, ledger: SandboxLedger, faults: Faults, bounce_maildir: str | Path | None = None):
        self.ledger = ledger
        self.faults = faults
        # Default <data_dir>/bounces: the sandbox keeps its ledger in <data_dir>/sandbox.
        self.bounce_maildir = Path(bounce_maildir) if bounce_maildir else ledger.directory.parent / "bounces"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 (aiosmtpd hook)
        """Refuse `bounce*` recipients at RCPT, as a relay that checks recipients before accepting does."""
        if address.split("@", 1)[0].lower().startswith("bounce"):
            return "550 5.1.1 unknown recipient"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd hook)
        """Keep the message, keyed by its Message-ID so a resend shows up as a duplicate; bounce what cannot go on."""
        content = envelope.original_content or envelope.content
        # Only the headers are read (Message-ID, Subject, the DSN's copy of them): parsing the body as well
        # cost more than everything else the relay does for a message with a PDF.
        parsed = BytesParser(policy=default_policy).parsebytes(content, headersonly=True)
        key = str(parsed.get("Message-ID", "")).strip().strip("<>")
        key = key or "sha256:" + hashlib.sha256(content).hexdigest()
        if self.faults.delay_s:
            await asyncio.sleep(self.faults.delay_s)
        if self.faults.should_fail(key, "email"):
            return "451 4.3.0 try again later"
        received = self.ledger.record("email", key, ", ".join(envelope.rcpt_tos), str(parsed.get("Subject", "")),
                                      content, ".eml")
        self._bounce(envelope.mail_from, envelope.rcpt_tos, parsed, f"{received.id}")
        return f"250 2.0.0 OK queued as {received.id}"

    def _bounce(self, sender: str, recipients: list[str], original, queue_id: str) -> None:
        failures = [(rcpt, *found) for rcpt in recipients if (found := bounce_for(rcpt, self.faults))]
        if not failures or not sender or sender == "<>":  # RFC 5321 6.1: never bounce a bounce
            return
        dsn = build_dsn(sender, failures, original, queue_id, SANDBOX_HOSTNAME)
        mailbox.Maildir(self.bounce_maildir, create=True).add(dsn.as_bytes())


class BoundController(Controller):
    """An aiosmtpd Controller on an already bound socket, so port 0 (any free port) works.

    The stock Controller binds inside its thread and then connects to `self.port` to wake the
    server up, which fails for port 0; binding first also surfaces "address in use" at once.
    """

    def __init__(self, handler, sock: socket.socket, **kwargs):
        host, port = sock.getsockname()[:2]
        super().__init__(handler, hostname=host, port=port, **kwargs)
        self._sock = sock

    def _create_server(self):
        return self.loop.create_server(self._factory_invoker, sock=self._sock, ssl=self.ssl_context)


def start_smtp(ledger: SandboxLedger, faults: Faults, host: str, port: int,
               bounce_maildir: str | Path | None = None) -> BoundController:
    """Start the SMTP server in its own thread; its real port is `controller.port`."""
    sock = socket.create_server((host, port), reuse_port=False)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no 40 ms delayed-ACK stalls per reply
    # server_hostname avoids a (possibly slow) FQDN lookup when each session starts.
    controller = BoundController(SandboxSmtpHandler(ledger, faults, bounce_maildir), sock,
                                 server_hostname=SANDBOX_HOSTNAME, data_size_limit=50 * 1024 * 1024)
    try:
        controller.start()
    except BaseException:
        sock.close()
        raise
    return controller
