"""The sandbox itself: its receive log, its faults, and starting it only when nothing listens."""

from __future__ import annotations

import socket

import pytest

from config.settings import Settings
from omnibill.sandbox import Faults, Sandbox, SandboxLedger, ensure_sandbox, providers_listening
from tests.adapters.helpers import free_port


def test_the_ledger_keeps_duplicates_but_counts_them_once(tmp_path):
    ledger = SandboxLedger(tmp_path)
    first = ledger.record("email", "m1@omnibill", "a@example.test", "Invoice", b"Subject: Invoice\r\n\r\n", ".eml")
    again = ledger.record("email", "m1@omnibill", "a@example.test", "Invoice", b"Subject: Invoice\r\n\r\n", ".eml")
    ledger.record("sms", "m2", "+46701234567", None, b"{}", ".json")
    assert (ledger.count(), ledger.count(unique=False)) == (2, 3)
    assert (ledger.count("email"), ledger.count("email", unique=False)) == (1, 2)
    assert again.duplicate_of == first.id and again.original_id == first.id
    assert ledger.keys("email") == ["m1@omnibill"]
    assert [r.duplicate_of for r in ledger.list("email")] == [None, first.id]
    assert (tmp_path / first.path).read_bytes() == b"Subject: Invoice\r\n\r\n" and first.path.endswith(".eml")
    ledger.close()
    assert SandboxLedger(tmp_path).count("email") == 1  # it is a file: it survives a restart


def test_faults_are_reproducible_and_a_retry_can_succeed():
    def attempts(faults: Faults) -> list[bool]:
        return [faults.should_fail(f"m{i}") for i in range(200) for _ in range(2)]

    first, second = attempts(Faults(0.3)), attempts(Faults(0.3))
    assert first == second and 0.2 < sum(first) / len(first) < 0.4
    assert any(a and not b for a, b in zip(first[::2], first[1::2]))  # failed once, then got through
    assert not any(attempts(Faults(0.0)))


def settings_on(smtp_port: int, http_port: int, tmp_path, autostart: bool = True) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path, sandbox={"smtp_port": smtp_port, "http_port": http_port,
                                                                "autostart": autostart})


def test_ensure_sandbox_starts_one_only_when_nothing_listens(tmp_path):
    settings = settings_on(free_port(), free_port(), tmp_path)
    assert not providers_listening(settings)
    started = ensure_sandbox(settings)
    try:
        assert isinstance(started, Sandbox) and providers_listening(settings)
        assert (started.smtp_port, started.http_port) == (settings.sandbox.smtp_port, settings.sandbox.http_port)
        assert ensure_sandbox(settings) is None  # already up: the run uses it
    finally:
        started.stop()
    assert not providers_listening(settings)
    assert (tmp_path / "sandbox" / "received.sqlite").exists()


def test_ensure_sandbox_leaves_ports_alone_when_autostart_is_off(tmp_path):
    assert ensure_sandbox(settings_on(free_port(), free_port(), tmp_path, autostart=False)) is None


def test_ensure_sandbox_refuses_when_only_one_port_is_taken(sandbox, tmp_path):
    with pytest.raises(RuntimeError, match=str(sandbox.smtp_port)):
        ensure_sandbox(settings_on(sandbox.smtp_port, free_port(), tmp_path))


def test_a_busy_port_fails_start_and_releases_the_other(sandbox, tmp_path):
    box = Sandbox(tmp_path, smtp_port=0, http_port=sandbox.http_port)
    with pytest.raises(OSError):
        box.start()
    assert box.ledger is None and box.smtp_port != 0
    with pytest.raises(ConnectionRefusedError):  # the SMTP half that did start was shut again
        socket.create_connection(("127.0.0.1", box.smtp_port), timeout=1)


def test_from_settings_takes_ports_directory_and_key_from_settings(tmp_path):
    settings = settings_on(2600, 8600, tmp_path)
    box = Sandbox.from_settings(settings, http_port=0)
    assert (box.directory, box.smtp_port, box.http_port, box.api_key) == (tmp_path / "sandbox", 2600, 0, "sandbox-key")
