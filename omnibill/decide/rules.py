"""The channel rules of a first version: consent, reachability, chain order, paper as last resort."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from config.tenant import CategoryRules
from omnibill.decide.reachability import why_unreachable
from omnibill.model import Party


@dataclass(frozen=True)
class Decision:
    """The channel chosen for a document (None: nobody to send to) and the rules that fired."""

    channel: str | None
    reason: str
    rules: list[str] = field(default_factory=list)


def choose_channel(party: Party, consents: dict[str, Any], rules: CategoryRules,
                   exclude: Collection[str] = ()) -> Decision:
    """Walk the customer's chain: the first channel with consent and reachable contact data wins."""
    chain = rules.organisation_chain if party.customer_type == "organisation" else rules.person_chain
    given = consents.get(rules.consent_category, {})
    fired: list[str] = []
    for channel in chain:
        if channel in exclude:
            fired.append(f"{channel}: already failed permanently")
            continue
        if channel == "print":
            continue
        consent = _consent(channel, given.get(channel), party, rules)
        if consent.startswith("no"):
            fired.append(f"{channel}: {consent}")
            continue
        problem = why_unreachable(party, channel)
        if problem:
            fired.append(f"{channel}: {consent}, but {problem}")
            continue
        fired.append(f"{channel}: {consent} and reachable")
        return Decision(channel, f"{channel}: {consent} and reachable", fired)
    return _paper_or_nothing(party, given.get("print"), rules, exclude, fired)


def _consent(channel: str, pref: dict[str, Any] | None, party: Party, rules: CategoryRules) -> str:
    if pref and pref.get("status") == "opt_out":
        return f"no: opted out on {pref.get('recorded_at', '?')[:10]}"
    if pref and pref.get("status") == "opt_in":
        return f"opted in on {pref.get('recorded_at', '?')[:10]} via {pref.get('source') or 'unknown source'}"
    if channel in rules.registration_is_consent and _registered(channel, party):
        return "registered as " + ("a PEPPOL receiver" if channel == "einvoice" else f"{party.digital_mailbox} user")
    return "no opt-in"


def _registered(channel: str, party: Party) -> bool:
    return bool(party.peppol_id) if channel == "einvoice" else bool(party.digital_mailbox)


def _paper_or_nothing(party: Party, print_pref: dict[str, Any] | None, rules: CategoryRules,
                      exclude: Collection[str], fired: list[str]) -> Decision:
    problem = why_unreachable(party, "print")
    if "print" in exclude:
        problem = "print already failed permanently"
    opted_out = bool(print_pref and print_pref.get("status") == "opt_out")
    if problem is None and (rules.paper_always_allowed or not opted_out):
        why = "no opted-in reachable channel; paper is always allowed for this document type"
        if print_pref and print_pref.get("status") == "opt_in":
            why = "opted in to paper"
        fired.append(f"print: {why}")
        return Decision("print", f"print: {why}", fired)
    fired.append(f"print: {problem or 'opted out and paper is not required'}")
    return Decision(None, "unreachable: " + "; ".join(fired), fired)
