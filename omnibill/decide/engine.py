"""Decisions for a whole frame of documents: chains per group, then caps, quiet hours and companions."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from config.tenant import TenantRules
from omnibill.quiet_hours import next_allowed
from omnibill.decide.rules import Codes, Inputs, consent_matrix, decide_group, map_small
from omnibill.decide.texts import CHANNEL_WORDS, USABLE, phrase
from config.channels import CHANNELS
from omnibill.decide.rules import CATEGORY, CHANNEL, OPT_IN

OUTPUT = ["channel", "state", "not_before", "reason", "rules", "hash", "companion", "companion_reason",
          "companion_hash"]


def decide_frame(docs: pd.DataFrame, prefs: pd.DataFrame | None, tenant: TenantRules, *, now: datetime,
                 history: pd.Series | None = None, run_counts: pd.Series | None = None,
                 suppressed: dict[str, str] | None = None) -> pd.DataFrame:
    """One decision per document row: channel ("" = none), state, reason in words, rules as JSON text.

    `docs` holds the document, its customer and `why_<c>`/`hash_<c>` reachability columns;
    `history` and `run_counts` count primary messages per (customer_id, category) already sent in
    the cap window / already planned in this run; `suppressed` maps address hashes to bounce dates.
    """
    if docs.empty:
        return pd.DataFrame(columns=OUTPUT)
    x, customers = _inputs(docs, prefs, suppressed or {})
    channel = np.full(len(docs), "", dtype=object)
    reason, fired = channel.copy(), channel.copy()
    for (category, ctype), rows in docs.groupby(["category", "customer_type"], sort=True).indices.items():
        channel[rows], reason[rows], fired[rows] = decide_group(x, rows, tenant.categories[category], tenant, ctype)
    out = pd.DataFrame({k: pd.Series(v, index=docs.index, dtype=object)
                        for k, v in (("channel", channel), ("reason", reason), ("rules", fired))})
    _cap(docs, out, tenant, x.customer, customers, history, run_counts)
    out["state"] = pd.Series(np.where(out["channel"] != "", "planned", ""), index=out.index, dtype=object)
    out["not_before"] = pd.Series(pd.NaT, index=out.index, dtype="datetime64[ns, UTC]")
    _quiet_hours(docs, out, tenant, now)
    out["hash"] = pd.Series(_chosen_hash(docs, out["channel"]), index=out.index, dtype=object)
    _companions(docs, out, tenant, x)
    return out[OUTPUT]


def _inputs(docs: pd.DataFrame, prefs: pd.DataFrame | None, suppressed: dict[str, str]) -> tuple[Inputs, pd.Index]:
    """The documents as integer arrays for the rules (see omnibill.decide.rules.Inputs).

    Columns are factorised, never converted to Python strings row by row: only distinct values
    (codes, providers, bounce dates) are looked at one by one.
    """
    n = len(docs)
    ids = docs["customer_id"]
    if prefs is not None and not prefs.empty:
        ids = pd.concat([ids, prefs["customer_id"]], ignore_index=True)
    codes_all, customers = pd.factorize(ids)
    codes, details = Codes("", *USABLE), Codes()
    tried = docs["tried"] if "tried" in docs else pd.Series(",", index=docs.index)
    tried_codes, tried_values = pd.factorize(tried)
    why, bounced, was_tried, registration = {}, {}, {}, {}
    for c in CHANNELS:
        why[c] = codes.ids(docs[f"why_{c}"])
        bounced[c] = details.ids(docs[f"hash_{c}"], suppressed) if suppressed else np.full(n, -1, dtype=np.int32)
        was_tried[c] = np.array([f",{c}," in str(v) for v in tried_values] + [False])[tried_codes]
        registration[c] = np.full(n, -1, dtype=np.int32)
    peppol_codes, peppols = pd.factorize(docs["peppol_id"].fillna(""))
    # A Finnish consumer's e-invoice address exists only because they made a receiving agreement with
    # their bank: that registration is their choice of channel, like a PEPPOL registration.
    bank = (docs["einvoice_address"].fillna("") != "").to_numpy() if "einvoice_address" in docs else np.zeros(n, bool)
    registration["einvoice"] = np.where(np.array([bool(v) for v in peppols] + [False])[peppol_codes],
                                        details.id("a PEPPOL receiver"),
                                        np.where(bank, details.id("a bank e-invoice receiver"), -1))
    box_codes, boxes = pd.factorize(docs["digital_mailbox"].fillna(""))
    user = np.array([details.id(f"{str(b).lower()} user") for b in boxes] + [-1], dtype=np.int32)[box_codes]
    registration["mailbox"] = np.where(why["mailbox"] != codes.id("no_mailbox"), user, -1)
    status, pref_detail = consent_matrix(codes_all[n:], prefs, len(customers), details)
    dnc = docs["do_not_contact"].fillna(False).to_numpy(dtype=bool) if "do_not_contact" in docs else np.zeros(n, bool)
    return Inputs(n, codes_all[:n], status, pref_detail, why, bounced, was_tried, registration, dnc, codes,
                  details), customers


def _cap(docs: pd.DataFrame, out: pd.DataFrame, tenant: TenantRules, customer: np.ndarray, customers: pd.Index,
         history, run_counts) -> None:
    """Suppress documents beyond a category's frequency cap or per-run limit; the lowest ids keep theirs."""
    categories = list(tenant.categories)
    cat = map_small(docs["category"], {c: i for i, c in enumerate(categories)}, -1)
    key = customer.astype(np.int64) * len(categories) + cat
    has = (out["channel"] != "").to_numpy()
    order = np.argsort(key, kind="stable")  # documents arrive ordered by invoice id: the lowest keep theirs
    chosen = order[has[order]]
    rank = pd.Series(key[chosen]).groupby(key[chosen]).cumcount().to_numpy()
    for source, field in ((history, "cap"), (run_counts, "max_per_run")):
        limits = np.array([_limit(tenant.categories[c], field) for c in categories])[cat[chosen]]
        if not np.isfinite(limits).any():
            continue
        earlier = _counts(source, customers, categories)[key[chosen]] if source is not None and len(source) else 0
        over = chosen[((earlier + rank) >= limits) & (out["channel"].to_numpy()[chosen] != "")]
        if len(over):
            idx = out.index[over]
            why = docs["category"].iloc[over].map({c: _limit_words(r, field, c) for c, r in tenant.categories.items()})
            why.index = idx
            out.loc[idx, "channel"] = ""
            out.loc[idx, "reason"] = "no channel: " + why.map(lambda w: phrase("capped", w))
            out.loc[idx, "rules"] = _append_step(out.loc[idx, "rules"], "capped", why)


def _counts(source: pd.Series, customers: pd.Index, categories: list[str]) -> np.ndarray:
    """Counts per (customer, category) as a dense array over this frame's customer codes."""
    dense = np.zeros(len(customers) * len(categories))
    cust = customers.get_indexer(source.index.get_level_values(0))
    cat = pd.Index(categories).get_indexer(source.index.get_level_values(1))
    ok = (cust >= 0) & (cat >= 0)
    dense[cust[ok] * len(categories) + cat[ok]] = source.to_numpy()[ok]
    return dense


def _limit(rules, field: str) -> float:
    if field == "cap":
        return rules.cap.max if rules.cap else np.inf
    return rules.max_per_run or np.inf


def _limit_words(rules, field: str, category: str) -> str:
    if field == "cap" and rules.cap:
        return f"at most {rules.cap.max} {category} messages per customer in {rules.cap.days} days"
    return f"at most {rules.max_per_run} {category} messages per customer in one run"


def _append_step(rules_json: pd.Series, code: str, detail: pd.Series) -> pd.Series:
    step = '{"channel":"","rule":"' + code + '","detail":"' + detail.str.replace('"', "'") + '"}'
    body = rules_json.str[:-1]
    return body + np.where(body == "[", "", ",") + step + "]"


def _quiet_hours(docs: pd.DataFrame, out: pd.DataFrame, tenant: TenantRules, now: datetime) -> None:
    """Schedule SMS/push that would go out in the customer's quiet hours for when they end."""
    quiet = tenant.quiet_hours
    mask = pd.Series(False, index=docs.index)
    for category, rules in tenant.categories.items():
        if rules.quiet_hours:
            mask |= (docs["category"] == category) & out["channel"].isin(rules.quiet_hours)
    if not mask.any():
        return
    for country in docs.loc[mask, "country"].unique():
        zone = quiet.timezones.get(country, quiet.default_timezone)
        until = next_allowed(now, zone, quiet)
        if until is None:
            continue
        rows = mask & (docs["country"] == country)
        out.loc[rows, "state"] = "scheduled"
        out.loc[rows, "not_before"] = until
        when = until.astimezone(ZoneInfo(zone)).strftime("%d %b %Y %H:%M ") + zone
        out.loc[rows, "reason"] = out.loc[rows, "reason"] + "; " + phrase("scheduled", when)
        at = pd.Series(when, index=rows[rows].index)
        out.loc[rows, "rules"] = _append_step(out.loc[rows, "rules"], "scheduled", at)


def _chosen_hash(docs: pd.DataFrame, channel: pd.Series) -> np.ndarray:
    """The address hash of each document's chosen channel ("" when none)."""
    out = np.full(len(docs), "", dtype=object)
    for c in CHANNELS:
        rows = np.flatnonzero((channel == c).to_numpy())
        out[rows] = docs[f"hash_{c}"].iloc[rows].to_numpy(dtype=object)
    return out


def _companions(docs: pd.DataFrame, out: pd.DataFrame, tenant: TenantRules, x: Inputs) -> None:
    """A notice channel for documents whose primary channel has one, only with an explicit opt-in."""
    for column in ("companion", "companion_reason", "companion_hash"):
        out[column] = pd.Series("", index=out.index, dtype=object)
    for category, rules in tenant.categories.items():
        comp = rules.companion
        if comp is None:
            continue
        rows = np.flatnonzero(((docs["category"] == category) & out["channel"].isin(comp.after)).to_numpy())
        if not len(rows):
            continue
        key = x.customer[rows] * len(CATEGORY) + CATEGORY[comp.consent_category]
        taken = np.zeros(len(rows), dtype=bool)
        primary = out["channel"].to_numpy(dtype=object)[rows]
        for channel in comp.channels:
            ok = (~taken & (primary != channel) & (x.status[key, CHANNEL[channel]] == OPT_IN)
                  & (x.why[channel][rows] == 0) & (x.bounced[channel][rows] < 0) & ~x.dnc[rows])
            if ok.any():
                idx = out.index[rows[ok]]
                when = np.array(x.details.words, dtype=object)[x.pref_detail[key[ok], CHANNEL[channel]]]
                out.loc[idx, "companion"] = channel
                out.loc[idx, "companion_hash"] = docs.loc[idx, f"hash_{channel}"].to_numpy(dtype=object)
                out.loc[idx, "companion_reason"] = (f"companion notice by {CHANNEL_WORDS[channel]} (opted in to "
                                                    f"{comp.consent_category} messages on " + when + "); not a copy")
                taken |= ok
