"""The sandbox SMTP server: aiosmtpd on loopback, keeping every message it accepts as .eml."""

from __future__ import annotations

import asyncio
import hashlib
import socket
from email import message_from_bytes
from email.policy import default as default_policy

from aiosmtpd.controller import Controller

from omnibill.sandbox.faults import Faults
from omnibill.sandbox.received import SandboxLedger


class SandboxSmtpHandler:
    """aiosmtpd handler: refuses `bounce*` recipients, fails some DATA transiently, records the rest."""

    def __init__(self, ledger: SandboxLedger, faults: Faults):
        self.ledger = ledger
        self.faults = faults

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 (aiosmtpd hook)
        """Refuse unknown recipients at RCPT, as a real MTA does for a hard bounce."""
        if address.split("@", 1)[0].lower().startswith("bounce") or self.faults.rejects(address):
            return "550 5.1.1 unknown recipient"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd hook)
        """Keep the message, keyed by its Message-ID so a resend shows up as a duplicate."""
        content = envelope.original_content or envelope.content
        parsed = message_from_bytes(content, policy=default_policy)
        key = str(parsed.get("Message-ID", "")).strip().strip("<>")
        key = key or "sha256:" + hashlib.sha256(content).hexdigest()
        if self.faults.delay_s:
            await asyncio.sleep(self.faults.delay_s)
        if self.faults.should_fail(key, "email"):
            return "451 4.3.0 try again later"
        received = self.ledger.record("email", key, ", ".join(envelope.rcpt_tos), str(parsed.get("Subject", "")),
                                      content, ".eml")
        return f"250 2.0.0 OK queued as {received.id}"


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


def start_smtp(ledger: SandboxLedger, faults: Faults, host: str, port: int) -> BoundController:
    """Start the SMTP server in its own thread; its real port is `controller.port`."""
    sock = socket.create_server((host, port), reuse_port=False)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no 40 ms delayed-ACK stalls per reply
    # server_hostname avoids a (possibly slow) FQDN lookup when each session starts.
    controller = BoundController(SandboxSmtpHandler(ledger, faults), sock, server_hostname="sandbox.omnibill.test",
                                 data_size_limit=50 * 1024 * 1024)
    try:
        controller.start()
    except BaseException:
        sock.close()
        raise
    return controller
