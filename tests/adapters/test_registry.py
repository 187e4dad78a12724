"""The one wiring place: every channel gets its adapter, configured from settings, with declared limits."""

from __future__ import annotations

import pytest

from channel_adapters.base import ChannelAdapter
from channel_adapters.registry import PROVIDERS, build_adapter, build_provider
from channel_adapters.routing import RoutedAdapter
from channel_adapters.sms_gateway import SmsGatewayAdapter
from config.channels import DISPATCH_CHANNELS, PROVIDERS as CHANNEL_PROVIDERS
from config.tenant import TenantConfigError, load_tenant
from omnibill.store import LocalStore, S3Store
from tests.conftest import REPO


def test_every_dispatch_channel_has_providers_and_every_provider_an_adapter():
    assert set(CHANNEL_PROVIDERS) == set(DISPATCH_CHANNELS)
    assert {p for names in CHANNEL_PROVIDERS.values() for p in names} == set(PROVIDERS)


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_every_provider_builds_its_adapter_with_declared_limits(provider, settings):
    adapter = build_provider(provider, settings)
    assert isinstance(adapter, ChannelAdapter)
    assert adapter.channel in CHANNEL_PROVIDERS and provider in CHANNEL_PROVIDERS[adapter.channel]
    assert adapter.max_batch > 0
    assert "body_maxlen" in type(adapter).__dict__ or "body_maxlen" in ChannelAdapter.__dict__
    adapter.close()


@pytest.mark.parametrize("channel", sorted(DISPATCH_CHANNELS))
def test_every_channel_builds_its_adapter(channel, settings):
    adapter = build_adapter(channel, settings)
    assert adapter.channel == channel and adapter.max_batch > 0
    adapter.close()


def test_a_tenant_routes_sms_by_country_and_mailboxes_by_the_recipients_own(settings, tmp_path):
    from dataclasses import replace

    from tests.adapters.helpers import outbound

    text = (REPO / "config" / "tenants" / "demo.toml").read_text()
    rules = load_tenant("demo", REPO / "config" / "tenants")  # [providers.sms] default 46elks, NO twilio
    sms = build_adapter("sms", settings, rules)
    assert isinstance(sms, RoutedAdapter)
    se, no = (replace(outbound("sms", "t", n, "+4670"), metadata={"country": c}) for n, c in ((1, "SE"), (2, "NO")))
    assert (sms.route(se), sms.route(no)) == ("46elks", "twilio")
    mailbox = build_adapter("mailbox", settings, rules)
    kivra = replace(se, metadata={"mailbox_provider": "kivra"})
    assert mailbox.route(kivra) == "kivra" and mailbox.route(replace(se, metadata={})) is None
    assert '[providers.sms]\ndefault = "46elks"' in text
    (tmp_path / "demo.toml").write_text(text.replace('[providers.sms]\ndefault = "46elks"',
                                                     '[providers.sms]\ndefault = "pigeon"'))
    with pytest.raises(TenantConfigError, match="pigeon"):
        load_tenant("demo", tmp_path)


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
