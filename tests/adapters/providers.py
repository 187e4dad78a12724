"""One harness per provider for the contract suite: build the adapter, read back what the provider holds."""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, replace

from channel_adapters.base import ChannelAdapter, OutboundMessage
from channel_adapters.digital_mailbox import DigitalMailboxAdapter
from channel_adapters.einvoice import EInvoiceDropAdapter
from channel_adapters.print_house import PrintHouseAdapter
from channel_adapters.sms_gateway import SmsGatewayAdapter
from channel_adapters.smtp import SmtpAdapter
from config.settings import Settings
from omnibill.sandbox import Sandbox
from omnibill.store import LocalStore, ObjectStore, S3Store
from tests.adapters.helpers import create_bucket, free_port, outbound


@dataclass
class Harness:
    """How the contract suite drives one adapter and inspects its provider."""

    channel: str
    settings: Settings
    tag: str
    good_recipient: str
    bad_recipient: str = ""
    refusal: str = ""  # what the provider says about the spoiled message

    def adapter(self) -> ChannelAdapter:
        """The adapter wired to the working provider."""
        raise NotImplementedError

    def adapter_to_dead_provider(self) -> ChannelAdapter:
        """The adapter wired to a provider that is not there."""
        raise NotImplementedError

    def held(self) -> Counter:
        """Message ids the provider holds, counted once per delivery it accepted (duplicates included)."""
        raise NotImplementedError

    def duplicates_flagged(self) -> int:
        """Deliveries the provider recognised as repeats."""
        return 0

    def messages(self, n: int = 3, bad_at: int | None = None) -> list[OutboundMessage]:
        """A batch; message `bad_at` is one the provider must refuse permanently."""
        batch = [outbound(self.channel, self.tag, i, self.good_recipient) for i in range(n)]
        if bad_at is not None:
            batch[bad_at] = self.spoil(batch[bad_at])
        return batch

    def spoil(self, message: OutboundMessage) -> OutboundMessage:
        """The message made unacceptable to this provider (by default: a refused recipient)."""
        return replace(message, recipient=self.bad_recipient)


class SandboxHarness(Harness):
    """Adapters whose provider is the sandbox: it records every delivery in its ledger."""

    sandbox: Sandbox
    can_fail_transiently = True

    def _mine(self):
        return [r for r in self.sandbox.ledger.list(self.channel) if r.idempotency_key.startswith(self.tag)]

    def held(self) -> Counter:
        return Counter(r.idempotency_key.removesuffix("@omnibill") for r in self._mine())

    def duplicates_flagged(self) -> int:
        return sum(1 for r in self._mine() if r.duplicate_of is not None)


class SmtpHarness(SandboxHarness):
    def adapter(self):
        return SmtpAdapter(self.settings.smtp)

    def adapter_to_dead_provider(self):
        return SmtpAdapter(self.settings.smtp.model_copy(update={"port": free_port(), "timeout_s": 2}))


class SmsHarness(SandboxHarness):
    def adapter(self):
        return SmsGatewayAdapter(self.settings.gateway)

    def adapter_to_dead_provider(self):
        return SmsGatewayAdapter(self.settings.gateway.model_copy(
            update={"sms_url": f"http://127.0.0.1:{free_port()}/sms", "timeout_s": 2}))


class MailboxHarness(SandboxHarness):
    def adapter(self):
        return DigitalMailboxAdapter(self.settings.gateway)

    def adapter_to_dead_provider(self):
        return DigitalMailboxAdapter(self.settings.gateway.model_copy(
            update={"mailbox_url": f"http://127.0.0.1:{free_port()}/mailbox", "timeout_s": 2}))


class DropHarness(Harness):
    """Adapters that write files to a drop (folder or bucket); a rerun overwrites the same names."""

    store: ObjectStore
    dead_store: ObjectStore
    can_fail_transiently = False
    adapter_class: type

    def adapter(self):
        return self.adapter_class(self.store)

    def adapter_to_dead_provider(self):
        return self.adapter_class(self.dead_store)


class EInvoiceHarness(DropHarness):
    adapter_class = EInvoiceDropAdapter

    def spoil(self, message):
        return replace(message, attachments=tuple(a for a in message.attachments if a.filename.endswith(".pdf")))

    def held(self) -> Counter:
        keys = self.store.keys(f"demo/{self.tag}")
        return Counter(k.rsplit("/", 1)[1].removesuffix(".xml") for k in keys)


class PrintHarness(DropHarness):
    adapter_class = PrintHouseAdapter

    def spoil(self, message):
        return replace(message, metadata={**message.metadata, "street": ""})

    def held(self) -> Counter:
        keys = self.store.keys(f"demo/{self.tag}")
        manifests = [k for k in keys if k.endswith(".csv")]
        assert len([k for k in keys if k.endswith(".pdf")]) == len(manifests), keys
        return Counter(row["message_id"] for key in manifests
                       for row in csv.DictReader(io.StringIO(self.store.get(key).decode())))


def build_harness(kind: str, settings: Settings, sandbox: Sandbox, tag: str, tmp_path) -> Harness:
    """The harness for one parametrized case of the contract suite."""
    if kind == "email":
        h = SmtpHarness("email", settings, tag, "anna@example.test", "bounce-anna@example.test",
                        "550 5.1.1 unknown recipient")
    elif kind == "sms":
        h = SmsHarness("sms", settings, tag, "+46701234567", "0701234567", "422")
    elif kind == "mailbox":
        h = MailboxHarness("mailbox", settings, tag, "198112189876", "198112180000", "404 recipient not registered")
    else:
        channel, backend = kind.split("-")
        cls = EInvoiceHarness if channel == "einvoice" else PrintHarness
        refusal = "no XML attachment" if channel == "einvoice" else "incomplete postal address"
        h = cls(channel, settings, tag, "Customer", "Customer", refusal)
        h.store, h.dead_store = _stores(backend, settings, tmp_path)
    if isinstance(h, SandboxHarness):
        h.sandbox = sandbox
    return h


def _stores(backend: str, settings: Settings, tmp_path) -> tuple[ObjectStore, ObjectStore]:
    if backend == "local":
        blocker = tmp_path / "not-a-folder"
        blocker.write_text("a file where the drop folder should be")
        return LocalStore(tmp_path / "drop"), LocalStore(blocker / "drop")
    bucket = create_bucket(settings.s3)
    return (S3Store(f"s3://{bucket}/drops", settings.s3),
            S3Store(f"s3://{bucket}-missing/drops", settings.s3))
