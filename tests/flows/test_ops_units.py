"""Pure pieces of operating runs: pacing, fault rules, periods, artifact keys, the forecast text."""

from __future__ import annotations

from datetime import date

import pytest

from channel_adapters.base import ChannelAdapter, DispatchResult, OutboundMessage, TransientError
from omnibill.ops.artifacts import artifact_key, forecast_text
from omnibill.dispatch.pacing import PacedAdapter
from omnibill.ops.periods import previous_month
from omnibill.sandbox.faults import Faults


class Recorder(ChannelAdapter):
    """Records the slices it was asked to send; fails from the `fail_from`-th call on."""

    channel = "sms"

    def __init__(self, fail_from: int | None = None):
        self.calls: list[list[str]] = []
        self.fail_from = fail_from

    def send_batch(self, messages):
        if self.fail_from is not None and len(self.calls) >= self.fail_from:
            raise TransientError("down")
        self.calls.append([m.message_id for m in messages])
        return [DispatchResult(m.message_id, "sent") for m in messages]


def _messages(n: int) -> list[OutboundMessage]:
    return [OutboundMessage(f"m{i}", "sms", "d", "i", "+46700000000") for i in range(n)]


def test_paced_adapter_sends_a_seconds_worth_at_a_time_and_waits():
    clock, slept = [0.0], []
    inner = Recorder()
    paced = PacedAdapter(inner, rate_per_s=4, clock=lambda: clock[0], sleep=slept.append)
    results = paced.send_batch(_messages(10))
    assert [len(c) for c in inner.calls] == [4, 4, 2]
    assert slept == [1.0, 1.0] and [r.status for r in results] == ["sent"] * 10


def test_paced_adapter_never_reports_sent_slices_as_failed_when_the_provider_goes_down():
    paced = PacedAdapter(Recorder(fail_from=1), rate_per_s=3, sleep=lambda s: None)
    results = paced.send_batch(_messages(7))
    assert [r.status for r in results] == ["sent"] * 3 + ["failed"] * 4
    with pytest.raises(TransientError):
        PacedAdapter(Recorder(fail_from=0), rate_per_s=3, sleep=lambda s: None).send_batch(_messages(2))


def test_paced_adapter_without_a_rate_passes_the_batch_through():
    inner = Recorder()
    PacedAdapter(inner, rate_per_s=0).send_batch(_messages(5))
    assert [len(c) for c in inner.calls] == [5]


def test_fault_rules_outage_named_keys_rejected_recipients_and_updates():
    faults = Faults(down_channels={"sms"}, fail_keys={"k1"}, reject_recipients={"+46701234567"})
    assert faults.should_fail("any", "sms") and faults.should_fail("k1", "email")
    assert not faults.should_fail("k2", "email")
    assert faults.rejects("+46701234567") and not faults.rejects("+46700000000")
    faults.update({"down_channels": [], "fail_keys": [], "delay_s": 0.5})
    assert not faults.should_fail("k1", "sms") and faults.describe()["delay_s"] == 0.5


@pytest.mark.parametrize("today, expected", [(date(2026, 12, 1), "2026-11"), (date(2027, 1, 1), "2026-12")])
def test_previous_month(today, expected):
    assert previous_month(today) == expected


def test_artifact_keys_are_lowercase_dashes_and_the_forecast_totals_up():
    assert artifact_key("Demo_AB", "2026-11", "channels") == "demo-ab-2026-11-channels"
    text = forecast_text("demo", "2026-11", [{"channel": "sms", "messages": 2, "share": "100.0%", "cost_eur": "0.09"}])
    assert "nothing was sent" in text and text.splitlines()[-1].split() == ["total", "2", "0.09"]


class Failing(Recorder):
    """A provider answering 503 to every message."""

    def send_batch(self, messages):
        self.calls.append([m.message_id for m in messages])
        return [DispatchResult(m.message_id, "failed", error="HTTP 503") for m in messages]


def test_breaker_stops_a_batch_after_one_slice_of_transient_failures():
    inner = Failing()
    results = PacedAdapter(inner, probe=5).send_batch(_messages(23))
    assert [len(c) for c in inner.calls] == [5]
    assert len(results) == 23 and all(r.status == "failed" and not r.permanent for r in results)
    assert "not tried" in results[-1].error


def test_a_slow_sms_provider_fails_the_batch_fast(tmp_path):
    import time

    from channel_adapters.sms_gateway import SmsGatewayAdapter
    from config.settings import GatewaySettings
    from omnibill.sandbox import Faults, Sandbox

    with Sandbox(tmp_path, smtp_port=0, http_port=0, faults=Faults(delay_s=1.0)) as box:
        settings = GatewaySettings(sms_url=f"http://127.0.0.1:{box.http_port}/sms", timeout_s=0.2)
        adapter = PacedAdapter(SmsGatewayAdapter(settings), probe=3)
        began = time.monotonic()
        results = adapter.send_batch(_messages(30))
        adapter.close()
    assert time.monotonic() - began < 3  # one slice of timeouts, not 30
    assert len(results) == 30 and all(r.status == "failed" and not r.permanent for r in results)
