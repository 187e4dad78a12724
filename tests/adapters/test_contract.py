"""The contract every channel adapter keeps, run against each one's real provider protocol."""

from __future__ import annotations

from collections import Counter

import pytest

from channel_adapters.base import TransientError
from tests.adapters.providers import Harness, build_harness

KINDS = ["email", "sms", "mailbox", "einvoice-local", "einvoice-s3", "print-local", "print-s3"]


@pytest.fixture(params=KINDS)
def provider(request, settings, sandbox, tag, tmp_path) -> Harness:
    """One adapter and its provider per parametrized case."""
    return build_harness(request.param, settings, sandbox, tag, tmp_path)


def ids(messages) -> Counter:
    return Counter(m.message_id for m in messages)


def test_a_batch_is_sent_and_the_provider_holds_each_message_once(provider):
    batch = provider.messages(3)
    results = provider.adapter().send_batch(batch)
    assert [(r.message_id, r.status) for r in results] == [(m.message_id, "sent") for m in batch]
    assert all(r.provider_ref for r in results)
    assert provider.held() == ids(batch)


def test_resending_a_batch_is_recognised_by_the_provider(provider):
    batch = provider.messages(3)
    provider.adapter().send_batch(batch)
    results = provider.adapter().send_batch(batch)
    assert [r.status for r in results] == ["sent"] * 3
    held = provider.held()
    assert set(held) == set(ids(batch))
    if provider.can_fail_transiently:  # a provider with a receive log: every repeat is flagged
        assert sum(held.values()) == 6 and provider.duplicates_flagged() == 3
    else:  # a drop: the same names are overwritten
        assert held == ids(batch)


def test_an_unreachable_provider_raises_transient_error(provider):
    with pytest.raises(TransientError):
        provider.adapter_to_dead_provider().send_batch(provider.messages(2))
    assert provider.held() == Counter()


def test_a_refused_message_fails_permanently_with_the_providers_reason(provider):
    batch = provider.messages(3, bad_at=1)
    results = provider.adapter().send_batch(batch)
    assert [r.status for r in results] == ["sent", "failed", "sent"]
    assert results[1].permanent and provider.refusal in results[1].error
    assert provider.held() == ids([batch[0], batch[2]])


def test_a_transient_refusal_fails_the_message_without_making_it_permanent(provider, faults):
    if not provider.can_fail_transiently:
        pytest.skip("a file drop has no per-message transient answer")
    batch = provider.messages(3)
    faults.fail_rate = 1.0
    results = provider.adapter().send_batch(batch)
    assert [(r.status, r.permanent) for r in results] == [("failed", False)] * 3
    assert all(("451" if provider.channel == "email" else "503") in r.error for r in results)
    assert provider.held() == Counter()
    faults.fail_rate = 0.0
    assert [r.status for r in provider.adapter().send_batch(batch)] == ["sent"] * 3
    assert provider.held() == ids(batch)
