"""Properties of the decide engine over random customers, preferences and documents (hypothesis)."""

from datetime import datetime, timezone

import pandas as pd
from hypothesis import HealthCheck, given, settings, strategies as st

from config.tenant import load_tenant
from omnibill.decide.engine import decide_frame
from omnibill.decide.frames import customers_frame, docs_frame
from config.channels import CHANNELS
from tests.conftest import REPO

RULES = load_tenant("demo", REPO / "config" / "tenants")
NOW = datetime(2026, 11, 23, 22, 30, tzinfo=timezone.utc)
CATEGORIES = ["invoice", "credit_note", "reminder", "marketing", "service"]
PREF_CATEGORIES = ["invoice", "reminder", "marketing", "service"]

customer = st.fixed_dictionaries({
    "customer_type": st.sampled_from(["person", "organisation"]),
    "country": st.sampled_from(["SE", "FI", "DK", "NO", "DE"]),
    "email": st.sampled_from(["", "kund@example.se", "not an address", "x@example.test"]),
    "mobile": st.sampled_from(["", "0701234567", "+358401234567", "12345"]),
    "digital_mailbox": st.sampled_from(["", "kivra", "eboks", "fax"]),
    "national_id": st.sampled_from(["", "198112189876"]),
    "peppol_id": st.sampled_from(["", "0007:5567321707", "0192:974760673", "bad"]),
    "street": st.sampled_from(["", "Gatan 1"]),
    "postal_code": st.sampled_from(["", "111 22", "00100", "1620"]),
    "city": st.sampled_from(["", "Stad"]),
    "do_not_contact": st.sampled_from(["", "true"]),
    "mailbox_registered": st.sampled_from([None, True, False]),
})
preference = st.tuples(st.sampled_from(PREF_CATEGORIES), st.sampled_from(list(CHANNELS)),
                       st.sampled_from(["opt_in", "opt_out"]))
world = st.lists(st.tuples(customer, st.lists(preference, max_size=6),
                           st.lists(st.sampled_from(CATEGORIES), min_size=1, max_size=4)), min_size=1, max_size=12)


def _frames(w):
    customers, prefs, docs = [], [], []
    for i, (c, ps, cats) in enumerate(w):
        cid = f"C{i}"
        customers.append(c | {"customer_id": cid, "name": "N", "language": "sv"})
        prefs += [(cid, cat, ch, status, f"2025-01-{k + 1:02d}T00:00:00+00:00", "web")
                  for k, (cat, ch, status) in enumerate(ps)]
        docs += [(f"D{i}-{j}", f"I{i:03d}-{j}", cid, cat) for j, cat in enumerate(cats)]
    prefs = pd.DataFrame(prefs, columns=["customer_id", "category", "channel", "status", "recorded_at", "source"])
    docs = pd.DataFrame(docs, columns=["doc_id", "invoice_id", "customer_id", "category"])
    return docs_frame(docs, customers_frame(customers), b"demo"), prefs


def _latest(prefs: pd.DataFrame) -> dict:
    return {(r.customer_id, r.category, r.channel): r.status
            for r in prefs.drop_duplicates(["customer_id", "category", "channel"], keep="last").itertuples()}


FAST = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(world)
def test_every_document_gets_one_channel_or_a_reason(w):
    frame, prefs = _frames(w)
    out = decide_frame(frame, prefs, RULES, now=NOW)
    assert len(out) == len(frame) and out.index.equals(frame.index)
    assert out["channel"].isin(list(CHANNELS) + [""]).all()
    assert (out["reason"].str.len() > 0).all()
    none = out["channel"] == ""
    assert out.loc[none, "reason"].str.startswith("no channel").all()
    assert (out.loc[~none, "state"].isin(["planned", "scheduled"])).all()
    assert (out["companion"] != out["channel"]).where(out["companion"] != "", True).all()


@FAST
@given(world)
def test_no_opted_out_channel_is_ever_used(w):
    frame, prefs = _frames(w)
    out = decide_frame(frame, prefs, RULES, now=NOW)
    latest = _latest(prefs)
    for doc, decision in zip(frame.itertuples(), out.itertuples()):
        rules = RULES.categories[doc.category]
        if decision.channel:
            said = latest.get((doc.customer_id, rules.consent_category, decision.channel))
            paper_exception = decision.channel == "print" and rules.paper_always_allowed
            assert said != "opt_out" or paper_exception, (doc, decision.reason)
            if decision.channel in rules.opt_in_required:
                assert said == "opt_in"
            assert not (doc.do_not_contact and rules.honour_do_not_contact)
        if decision.companion:
            assert latest.get((doc.customer_id, rules.companion.consent_category, decision.companion)) == "opt_in"


@FAST
@given(world, world)
def test_caps_hold_across_two_consecutive_runs(first, second):
    frame1, prefs = _frames(first)
    out1 = decide_frame(frame1, prefs, RULES, now=NOW)
    sent = frame1.loc[out1["channel"] != "", ["customer_id", "category"]]
    history = sent.groupby(["customer_id", "category"]).size()
    # the second run: the same customers with other documents, the first run's sends in the ledger
    frame2, _ = _frames([(c, ps, cats2) for (c, ps, _), (_, _, cats2) in zip(first, second)])
    out2 = decide_frame(frame2, prefs, RULES, now=NOW, history=history)
    both = pd.concat([sent[["customer_id", "category"]],
                      frame2.loc[out2["channel"] != "", ["customer_id", "category"]]])
    for category, rules in RULES.categories.items():
        counts = both[both["category"] == category].groupby("customer_id").size()
        if rules.cap:
            assert (counts <= rules.cap.max).all(), (category, counts)
    per_run = frame2.loc[out2["channel"] != ""].groupby(["customer_id", "category"]).size()
    for (_, category), n in per_run.items():
        limit = RULES.categories[category].max_per_run
        assert limit is None or n <= limit


@FAST
@given(world)
def test_same_input_same_decisions(w):
    frame, prefs = _frames(w)
    one = decide_frame(frame, prefs, RULES, now=NOW)
    two = decide_frame(frame.copy(), prefs.copy(), RULES, now=NOW)
    pd.testing.assert_frame_equal(one, two)
