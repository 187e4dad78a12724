"""The channel rules over whole frames: consent, reachability, suppression and chain order, on integer codes.

Everything per document is a numpy operation on small integer codes; words and JSON are built
once per distinct combination of fired rules and then taken for every document that shares it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from config.tenant import CategoryRules, TenantRules
from omnibill.decide.texts import CHANNEL_WORDS, USABLE, phrase
from config.channels import CHANNELS

CATEGORY = {"invoice": 0, "reminder": 1, "marketing": 2, "service": 3}
CHANNEL = {c: i for i, c in enumerate(CHANNELS)}
OPT_IN, OPT_OUT = 1, 2


class Codes:
    """Interned strings (rule codes, details): each gets a small integer once."""

    def __init__(self, *initial: str):
        self.words: list[str] = []
        self.index: dict[str, int] = {}
        for word in initial:
            self.id(word)

    def id(self, word: str) -> int:
        """The integer of a string, interned on first use."""
        if word not in self.index:
            self.index[word] = len(self.words)
            self.words.append(word)
        return self.index[word]

    def ids(self, values, mapping: dict[str, str] | None = None) -> np.ndarray:
        """Integers of many strings, each distinct one looked up once; with `mapping`, of the mapped
        strings (-1 where a value is not in it)."""
        codes, uniques = pd.factorize(pd.Series(values).fillna(""))
        if mapping is None:
            table = [self.id(str(u)) for u in uniques]
        else:
            table = [self.id(mapping[u]) if u in mapping else -1 for u in uniques]
        return np.array(table + [-1], dtype=np.int32)[codes]


@dataclass
class Inputs:
    """One frame of documents as integer arrays, plus the dense consent matrix of their customers."""

    n: int
    customer: np.ndarray            # customer code per document
    status: np.ndarray              # (customers * 4, channels) int8: 0 none, 1 opt_in, 2 opt_out
    pref_detail: np.ndarray         # (customers * 4, channels) detail id ("19 Feb 2024 via web") or -1
    why: dict[str, np.ndarray]      # per channel: code id, 0 when reachable
    bounced: dict[str, np.ndarray]  # per channel: detail id of the bounce date, or -1
    tried: dict[str, np.ndarray]    # per channel: bool
    registration: dict[str, np.ndarray]  # per channel: detail id of "kivra user" / "a PEPPOL receiver", -1 = none
    dnc: np.ndarray
    codes: Codes
    details: Codes


def map_small(values: pd.Series, mapping: dict[str, int], default: int) -> np.ndarray:
    """Integers for a column with few distinct strings (each distinct value looked up once)."""
    codes, uniques = pd.factorize(values)
    table = np.array([mapping.get(u, default) for u in uniques] + [default], dtype=np.int64)
    return table[codes]


def consent_matrix(customers: np.ndarray, prefs: pd.DataFrame | None, n_customers: int, details: Codes):
    """Dense (customer * category, channel) matrices of the latest status and its detail id."""
    status = np.zeros((n_customers * len(CATEGORY), len(CHANNELS)), dtype=np.int8)
    detail = np.full(status.shape, -1, dtype=np.int32)
    if prefs is None or prefs.empty:
        return status, detail
    p = prefs.assign(_c=customers).drop_duplicates(["_c", "category", "channel"], keep="last")
    category = map_small(p["category"], CATEGORY, -1)
    key = p["_c"].to_numpy() * len(CATEGORY) + category
    channel = map_small(p["channel"], CHANNEL, -1)
    ok = (category >= 0) & (channel >= 0) & (p["_c"].to_numpy() >= 0)
    # "19 Feb 2024", not ISO: an ISO date looks like a phone number to omnibill.privacy.scrub.
    day_code, days = pd.factorize(p["recorded_at"].fillna("").astype(str).str[:10])
    source_code, sources = pd.factorize(p["source"].fillna("").astype(str))
    combos, pair = np.unique(day_code.astype(np.int64) * max(len(sources), 1) + source_code, return_inverse=True)
    day = pd.to_datetime(pd.Index(days)[combos // max(len(sources), 1)], format="%Y-%m-%d", errors="coerce")
    said = [_said("an unknown date" if pd.isna(d) else d.strftime("%d %b %Y"), s)
            for d, s in zip(day, pd.Index(sources)[combos % max(len(sources), 1)] if len(sources) else [])]
    words = np.array([details.id(w) for w in said], dtype=np.int32)[pair] if len(pair) else np.zeros(0, np.int32)
    status[key[ok], channel[ok]] = map_small(p["status"], {"opt_in": OPT_IN, "opt_out": OPT_OUT}, 0)[ok]
    detail[key[ok], channel[ok]] = words[ok]
    return status, detail


def _said(day: str, source: str) -> str:
    """When and where a choice was made, in words: `12 Mar 2026 via web`, `chosen in the portal on …`."""
    if source == "portal":
        return f"{day}, chosen in the portal on {day}"
    if source == "unsubscribe":
        return f"{day}, unsubscribed with one click on {day}"
    return day + (f" via {source}" if source else "")


def channel_codes(x: Inputs, rows: np.ndarray, channel: str, rules: CategoryRules) -> tuple[np.ndarray, np.ndarray]:
    """For the documents `rows`: the code id that decides the channel (usable or why not) and its detail id."""
    key = x.customer[rows] * len(CATEGORY) + CATEGORY[rules.consent_category]
    status, pref = x.status[key, CHANNEL[channel]], x.pref_detail[key, CHANNEL[channel]]
    c = x.codes.id
    paper = channel == "print" and rules.paper_always_allowed
    registered = x.registration[channel][rows] if channel in rules.registration_is_consent else np.full(len(rows), -1)
    consent = np.select([status == OPT_IN, registered >= 0], [c("opted_in"), c("registered")],
                        c("paper_allowed") if paper else
                        c("no_opt_in_needed") if channel not in rules.opt_in_required else c("no_opt_in"))
    if paper:
        consent = np.where(status == OPT_OUT, c("paper_required"), consent)
    opted_out = (status == OPT_OUT) & (not paper)
    why, bounced = x.why[channel][rows], x.bounced[channel][rows]
    code = np.select([x.tried[channel][rows], opted_out, consent == c("no_opt_in"), why != 0, bounced >= 0],
                     [c("failed_before"), c("opted_out"), c("no_opt_in"), why, c("suppressed")], consent)
    detail = np.select([np.isin(code, [c("opted_in"), c("opted_out"), c("paper_required")]),
                        code == c("registered"), code == c("suppressed")], [pref, registered, bounced], -1)
    return code.astype(np.int32), detail.astype(np.int32)


def chain_for(rules: CategoryRules, customer_type: str) -> list[str]:
    """The channel chain of a category for a kind of customer."""
    return list(rules.organisation_chain if customer_type == "organisation" else rules.person_chain)


def _ranks(chain: list[str], rules: CategoryRules, tenant: TenantRules) -> np.ndarray:
    """Sort key per chain position: preference rank first, then cost (ties), then chain order."""
    rank = {c: i for i, c in enumerate(chain)}
    for group in rules.equal_preference:
        members = [rank[c] for c in group if c in rank]
        for c in group:
            if c in rank:
                rank[c] = min(members)
    return np.array([rank[c] * 1e6 + float(tenant.cost(c)) * 1e3 + i for i, c in enumerate(chain)])


def decide_group(x: Inputs, rows: np.ndarray, rules: CategoryRules, tenant: TenantRules,
                 customer_type: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(channel, reason, rules JSON) for the documents `rows` of one category and kind of customer."""
    chain = chain_for(rules, customer_type)
    n, k = len(rows), len(chain)
    codes = np.zeros((n, k), dtype=np.int32)
    details = np.zeros((n, k), dtype=np.int32)
    for j, channel in enumerate(chain):
        codes[:, j], details[:, j] = channel_codes(x, rows, channel, rules)
    usable = np.isin(codes, [x.codes.id(u) for u in USABLE])
    ranks = _ranks(chain, rules, tenant) if k else np.zeros(0)
    score = np.where(usable, ranks[None, :], np.inf) if k else np.full((n, 1), np.inf)
    best = score.argmin(axis=1)
    found = np.isfinite(score[np.arange(n), best])
    dnc = x.dnc[rows] & rules.honour_do_not_contact
    found &= ~dnc
    signature = np.column_stack([codes, details, np.where(found, best, -1), dnc]).astype(np.int64)
    first, inverse = distinct_rows(signature)
    texts = [_texts(chain, ranks, x, codes[i], details[i], int(best[i]) if found[i] else -1, bool(dnc[i]))
             for i in first]
    reasons = np.array([t[0] for t in texts], dtype=object)[inverse.ravel()]
    fired = np.array([t[1] for t in texts], dtype=object)[inverse.ravel()]
    channel = np.array(chain + [""], dtype=object)[np.where(found, best, k)]
    return channel, reasons, fired


def distinct_rows(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index of one row per distinct row, distinct-row number of every row), by hashing, verified exactly."""
    if not len(matrix):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    weights = np.random.default_rng(7).integers(1, 2**62, matrix.shape[1], dtype=np.int64) | 1
    with np.errstate(over="ignore"):
        hashed = (matrix * weights).sum(axis=1)
    inverse, _ = pd.factorize(hashed)
    first = np.full(inverse.max() + 1, -1, dtype=np.int64)
    first[inverse[::-1]] = np.arange(len(inverse))[::-1]
    if not (matrix == matrix[first[inverse]]).all():  # a hash collision: fall back to exact sorting
        _, first, inverse = np.unique(matrix, axis=0, return_index=True, return_inverse=True)
    return first, inverse.ravel()


def _texts(chain, ranks, x: Inputs, codes, details, best: int, dnc: bool) -> tuple[str, str]:
    """Reason in words and fired rules as JSON for one distinct combination."""
    if dnc:
        return "no channel: " + phrase("do_not_contact"), json.dumps([{"channel": "", "rule": "do_not_contact",
                                                                       "detail": ""}])
    steps, words = [], []
    preference = np.floor(ranks / 1e6)
    for j, channel in enumerate(chain):
        if best >= 0 and j > best and preference[j] != preference[best]:
            continue
        code, detail = x.codes.words[codes[j]], x.details.words[details[j]] if details[j] >= 0 else ""
        steps.append({"channel": channel, "rule": code, "detail": detail})
        words.append(f"{CHANNEL_WORDS.get(channel, channel)}: {phrase(code, detail)}")
    if best >= 0:
        reason = words[[s["channel"] for s in steps].index(chain[best])] + ", and reachable"
    else:
        reason = "no channel allowed: " + "; ".join(words)
    return reason, json.dumps(steps, ensure_ascii=False)
