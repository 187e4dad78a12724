"""Sandbox providers on loopback (SMTP server, SMS + mailbox HTTP gateway) that keep what they receive."""

from omnibill.sandbox.faults import Faults
from omnibill.sandbox.received import Received, SandboxLedger
from omnibill.sandbox.runner import Sandbox, ensure_sandbox, providers_listening

__all__ = ["Faults", "Received", "Sandbox", "SandboxLedger", "ensure_sandbox", "providers_listening"]
