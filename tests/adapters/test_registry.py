"""The one wiring place: every channel gets its adapter, configured from settings, with declared limits."""

from __future__ import annotations

import pytest

from channel_adapters.base import ChannelAdapter
from channel_adapters.registry import ADAPTERS, build_adapter
from channel_adapters.sms_gateway import SmsGatewayAdapter
from config.channels import DISPATCH_CHANNELS
from omnibill.store import LocalStore, S3Store


def test_every_dispatch_channel_has_an_adapter():
    assert set(ADAPTERS) == set(DISPATCH_CHANNELS)


@pytest.mark.parametrize("channel", sorted(ADAPTERS))
def test_every_channel_builds_its_adapter_with_declared_limits(channel, settings):
    adapter = build_adapter(channel, settings)
    assert isinstance(adapter, ChannelAdapter)
    assert adapter.channel == channel and adapter.max_batch > 0
    assert "body_maxlen" in type(adapter).__dict__  # declared, not inherited by accident
    adapter.close()


def test_drops_default_to_folders_in_the_data_dir_and_follow_s3_urls(settings):
    assert build_adapter("print", settings).store.url == str(settings.data_dir / "drops" / "print")
    assert isinstance(build_adapter("einvoice", settings).store, LocalStore)
    s3 = settings.model_copy(update={"drops": settings.drops.model_copy(update={"einvoice_url": "s3://ap/in"})})
    store = build_adapter("einvoice", s3).store
    assert isinstance(store, S3Store) and (store.bucket, store.prefix) == ("ap", "in")


def test_the_sms_adapter_declares_three_gsm_segments():
    assert SmsGatewayAdapter.body_maxlen == 459


def test_an_unknown_channel_is_named_in_the_error(settings):
    with pytest.raises(ValueError, match="pigeon"):
        build_adapter("pigeon", settings)
