"""Mailbox registration, asked of the provider in bulk (its usermatch endpoint) before a batch is decided."""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable

import pandas as pd

from config.settings import Settings, get_settings
from config.tenant import TenantRules
from omnibill.decide.reachability import MAILBOX_PROVIDERS

MailboxLookup = Callable[[str, list[str]], set[str]]
log = logging.getLogger(__name__)
RETRY_AFTER_S = 60.0
# lookup -> provider -> monotonic time: a provider that failed is not asked again for every batch
_down_until: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_lookups: dict[str, MailboxLookup] = {}


def provider_lookup(settings: Settings | None = None, rules: TenantRules | None = None) -> MailboxLookup:
    """Each mailbox provider's usermatch (the provider the rules route that mailbox to), as
    (mailbox, ids) -> registered ids."""
    from channel_adapters.registry import build_adapter

    settings = settings or get_settings()

    def registered(provider: str, ids: list[str]) -> set[str]:
        adapter = build_adapter("mailbox", settings, rules)
        try:
            return adapter.registered(provider, ids)
        finally:
            adapter.close()

    key = (settings.kivra.base_url, settings.digipost.base_url, settings.eboks.base_url, settings.gateway.mailbox_url,
           repr(rules.providers.get("mailbox")) if rules else "")
    return _lookups.setdefault(repr(key), registered)


def answered_in_advance(lookup: MailboxLookup, customers: pd.DataFrame) -> MailboxLookup:
    """Ask the provider now, for every customer of a batch; the lookup returned answers from memory.

    The decide stage then holds no database lock while a provider takes its time to answer.
    """
    said = check_mailboxes(customers, lookup)
    asked = {i for i, known in zip(customers["national_id"], said) if known is not None}
    registered = {i for i, known in zip(customers["national_id"], said) if known is True}

    def answer(provider: str, ids: list[str]) -> set[str]:
        if not asked.intersection(ids):
            raise LookupError(f"{provider} did not answer the usermatch")  # decide on the extract's word
        return registered.intersection(ids)

    return answer


def check_mailboxes(customers: pd.DataFrame, lookup: MailboxLookup | None) -> pd.Series:
    """Per customer: True/False as the provider says, None when it was not asked or could not answer.

    One request per provider for the whole frame. A provider that cannot answer leaves the
    extract's word standing (dispatch then finds out, and the fallback chain takes over).
    """
    result = pd.Series(None, index=customers.index, dtype=object)
    if lookup is None:
        return result
    provider = customers["digital_mailbox"].fillna("").str.lower()
    ids = customers["national_id"].fillna("")
    for name in sorted(set(provider.unique()) & MAILBOX_PROVIDERS):
        mine = (provider == name) & (ids != "")
        if not mine.any() or _down_until.get(lookup, {}).get(name, 0.0) > time.monotonic():
            continue
        try:
            found = lookup(name, sorted(ids[mine].unique()))
        except Exception as exc:  # noqa: BLE001  (any provider trouble: decide on the extract's word)
            log.warning("mailbox usermatch at %s failed (%s): registrations not confirmed", name, type(exc).__name__)
            _down_until.setdefault(lookup, {})[name] = time.monotonic() + RETRY_AFTER_S
            continue
        result[mine] = ids[mine].isin(found)
    return result
