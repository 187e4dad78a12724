"""Contract suite: SmtpAdapter against the sandbox relay, with VERP senders and RFC 3464 bounces in a Maildir.

The relay is the sandbox's SMTP server on its own (the HTTP gateway is not needed for e-mail).
"""

from __future__ import annotations

import mailbox
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

import pytest

from channel_adapters.base import OutboundMessage
from channel_adapters.bounces import BounceMailbox, dsn_recipients, receipts_from_dsn
from channel_adapters.smtp import SmtpAdapter, bounce_maildir
from config.settings import SmtpSettings
from omnibill.sandbox.faults import Faults
from omnibill.sandbox.received import SandboxLedger
from omnibill.sandbox.smtp_server import start_smtp

FIXTURES = Path(__file__).parent / "fixtures" / "dsn"
BOUNCES = "bounces@bounce.demo.omnibill.test"


def message(tag: str, n: int, recipient: str) -> OutboundMessage:
    """An e-mail with a stable 32-hex id made from the test's tag."""
    return OutboundMessage(message_id=f"{tag}{n:024x}", channel="email", document_id=f"D{n}", invoice_id=f"I{n}",
                           recipient=recipient, subject=f"Faktura {n}", body_text="Din faktura.")


class Relay:
    """The sandbox SMTP relay on a free port, with what it received and where it puts bounces."""

    def __init__(self, directory: Path):
        self.directory = directory / "sandbox"
        self.ledger = SandboxLedger(self.directory)
        self.faults = Faults()
        self.server = start_smtp(self.ledger, self.faults, "127.0.0.1", 0)
        self.bounce_maildir = self.server.handler.bounce_maildir

    def stop(self) -> None:
        self.server.stop()
        self.ledger.close()


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    relay = Relay(tmp_path_factory.mktemp("relay"))
    yield relay
    relay.stop()


@pytest.fixture
def faults(sandbox) -> Faults:
    yield sandbox.faults
    sandbox.faults.update({"fail_keys": [], "reject_recipients": []})


@pytest.fixture
def maildir(sandbox) -> Path:
    """The Maildir the sandbox relay delivers bounces into (<data_dir>/bounces beside <data_dir>/sandbox)."""
    assert sandbox.bounce_maildir == sandbox.directory.parent / "bounces"
    return sandbox.bounce_maildir


@pytest.fixture
def settings(sandbox) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=sandbox.server.port)


@pytest.fixture
def adapter(settings, maildir) -> SmtpAdapter:
    return SmtpAdapter(settings, bounce_maildir=maildir)


def received(sandbox, message_id: str) -> list:
    return [r for r in sandbox.ledger.list("email") if r.idempotency_key == f"{message_id}@omnibill"]


def test_each_message_goes_out_from_its_verp_address_and_the_from_header_stays_the_sender(adapter, sandbox, tag):
    sent = message(tag, 1, "anna@example.test")
    [result] = list(adapter.send([sent]))
    [row] = received(sandbox, sent.message_id)
    mail = message_from_bytes((sandbox.directory / row.path).read_bytes(), policy=default_policy)
    assert result.status == "sent" and mail["From"] == adapter.settings.sender
    assert adapter.envelope_sender(sent) == f"bounces+{sent.message_id}@bounce.demo.omnibill.test"


def test_send_yields_each_result_before_the_next_message_is_sent(adapter, sandbox, tag):
    batch = [message(tag, n, "anna@example.test") for n in range(3)]
    results = adapter.send(batch)
    first = next(results)
    assert first.message_id == batch[0].message_id and len(received(sandbox, batch[1].message_id)) == 0
    assert [r.status for r in results] == ["sent", "sent"]


def test_smtp_cannot_dedupe_so_a_resend_is_delivered_again_and_counted(adapter, sandbox, tag):
    sent = message(tag, 1, "anna@example.test")
    list(adapter.send([sent]))
    list(adapter.send([sent]))
    assert SmtpAdapter.deduplicates is False
    rows = received(sandbox, sent.message_id)
    assert len(rows) == 2 and rows[1].duplicate_of == rows[0].id  # the sandbox sees the repeat; a relay would not


def test_a_hard_bounce_arrives_as_a_dsn_and_polling_reads_it_once(adapter, sandbox, maildir, tag):
    good, bad = message(tag, 1, "anna@example.test"), message(tag, 2, "unknown.person@example.test")
    assert [r.status for r in adapter.send([good, bad])] == ["sent", "sent"]  # a relay accepts, then bounces
    events = [e for e in adapter.fetch_receipts() if e.message_id.startswith(tag)]
    assert [(e.message_id, e.status, e.permanent) for e in events] == [(bad.message_id, "bounced", True)]
    assert events[0].detail.startswith("5.1.1") and "example.test" not in events[0].detail
    assert events[0].at.tzinfo is not None and events[0].event_id.endswith("@sandbox.omnibill.test")
    assert [e for e in adapter.fetch_receipts() if e.message_id.startswith(tag)] == []
    assert [e for e in SmtpAdapter(adapter.settings, maildir).fetch_receipts() if e.message_id.startswith(tag)] == []


def test_the_sandbox_dsn_is_an_rfc3464_report_to_the_verp_address(adapter, maildir, tag):
    bad = message(tag, 1, "unknown.x@example.test")
    list(adapter.send([bad]))
    box = mailbox.Maildir(maildir, create=False)
    dsns = [message_from_bytes(box.get_bytes(k), policy=default_policy) for k in box.keys()]
    [dsn] = [d for d in dsns if bad.message_id in str(d["To"])]
    assert dsn.get_content_type() == "multipart/report" and dsn.get_param("report-type") == "delivery-status"
    assert [p.get_content_type() for p in dsn.iter_parts()] == ["text/plain", "message/delivery-status",
                                                               "text/rfc822-headers"]
    per_message, [recipient] = dsn_recipients(dsn)
    assert per_message["Reporting-MTA"] == "dns; sandbox.omnibill.test"
    assert (recipient.action, recipient.status) == ("failed", "5.1.1")
    assert f"<{bad.message_id}@omnibill>" in dsn.get_payload()[2].get_content()


def test_a_full_mailbox_is_a_soft_bounce(adapter, faults, tag):
    soft, rejected = message(tag, 1, "full.box@example.test"), message(tag, 2, "listed@example.test")
    faults.update({"reject_recipients": ["listed@example.test"]})
    list(adapter.send([soft, rejected]))
    events = {e.message_id: e for e in adapter.fetch_receipts() if e.message_id.startswith(tag)}
    assert (events[soft.message_id].permanent, events[soft.message_id].detail[:5]) == (False, "4.2.2")
    assert (events[rejected.message_id].permanent, events[rejected.message_id].detail[:5]) == (True, "5.1.1")


def test_a_recipient_refused_at_rcpt_fails_the_message_permanently_at_once(adapter, maildir, tag):
    [result] = list(adapter.send([message(tag, 1, "bounce-anna@example.test")]))
    assert (result.status, result.permanent, result.error) == ("failed", True, "550 5.1.1 unknown recipient")


def test_a_transient_refusal_is_not_permanent(adapter, faults, tag):
    sent = message(tag, 1, "anna@example.test")
    faults.update({"fail_keys": [f"{sent.message_id}@omnibill"]})
    [result] = list(adapter.send([sent]))
    assert (result.status, result.permanent) == ("failed", False) and result.error.startswith("451")


def test_the_rfc3464_example_is_parsed_but_not_taken_for_one_of_ours(tmp_path):
    raw = (FIXTURES / "rfc3464-appendix-b-simple-dsn.eml").read_bytes()
    dsn = message_from_bytes(raw, policy=default_policy)
    per_message, [recipient] = dsn_recipients(dsn)
    assert per_message["Reporting-MTA"] == "dns; cs.utk.edu"
    assert (recipient.action, recipient.status, recipient.diagnostic) == ("failed", "4.0.0", "426 connection timed out")
    assert receipts_from_dsn(dsn, "k", BOUNCES) is None  # addressed to someone else, returns no Message-ID of ours
    box = mailbox.Maildir(tmp_path / "bounces", create=True)
    key = box.add(raw)
    mailbox_reader = BounceMailbox(tmp_path / "bounces", BOUNCES)
    assert mailbox_reader.poll() == [] and mailbox_reader.skipped == {key}
    assert box.get_message(key).get_subdir() == "new"  # left alone for a human


def test_the_rfc3464_example_sent_to_our_verp_address_maps_to_our_message(tmp_path):
    message_id = "0123456789abcdef0123456789abcdef"
    raw = (FIXTURES / "rfc3464-appendix-b-simple-dsn.eml").read_bytes().replace(
        b"To: <owner-info-mime@cs.utk.edu>", f"To: <bounces+{message_id}@bounce.demo.omnibill.test>".encode())
    mailbox.Maildir(tmp_path / "bounces", create=True).add(raw)
    [event] = BounceMailbox(tmp_path / "bounces", BOUNCES).poll()
    assert (event.message_id, event.status, event.permanent) == (message_id, "bounced", False)  # 4.x.x: soft
    assert event.event_id == "199407072116.RAA14128@CS.UTK.EDU" and event.detail == "4.0.0 426 connection timed out"
    assert event.at.isoformat() == "1994-07-07T17:15:49-04:00"


def test_the_bounce_maildir_defaults_to_the_data_dir(settings, tmp_path):
    assert bounce_maildir(settings, tmp_path) == tmp_path / "bounces"
    assert bounce_maildir(settings.model_copy(update={"bounce_maildir": "/srv/mail/bounces"}), tmp_path) == Path(
        "/srv/mail/bounces")
