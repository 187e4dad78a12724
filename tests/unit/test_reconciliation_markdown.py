"""The reconciliation artifact's per-channel block: markdown tables that fit the Prefect UI (no preformatted text)."""

from __future__ import annotations

import re

import pytest

from omnibill.ops import artifacts
from omnibill.ops.artifacts import amounts_markdown, channel_markdown, markdown_table

# Characters of a padded markdown row. The UI draws cells in a proportional font with padding: the demo run's
# rows (~95 characters here) are ~780 px wide, and the artifact page's column is ~845 px at a 1400 px wide
# window (seen with `omnibill ui-screenshot --artifacts`); six-digit counts mostly fit under the column names,
# so the sample below (111 characters) is about as wide as a run of a big tenant gets.
MAX_LINE = 115


def _channel(name: str, kind: str = "primary", **counts) -> dict:
    line = dict.fromkeys(("planned", "sent", "delivered", "failed", "rejected", "scheduled", "held", "pending",
                          "cancelled"), 0) | {"channel": name, "kind": kind, "cost": "0", "opened": 0,
                                              "opened_share": 0.0, "amounts_sent": {}, "reached_documents": 0,
                                              "paid": 0, "paid_share": 0.0, "amounts_paid": {}}
    return line | counts


CHANNELS = [
    _channel("einvoice", planned=61_000, delivered=61_000, cost="7320.00", reached_documents=61_000, paid=30_500,
             paid_share=0.5, amounts_sent={"DKK": "13488123.77", "EUR": "66968999.02", "NOK": "19376.39",
                                           "SEK": "40455.86"}, amounts_paid={"EUR": "1234.50"}),
    _channel("mailbox (service)", "primary", planned=5, sent=3, delivered=2, cost="1.25"),
    _channel("sms (companion)", "companion", planned=16, failed=16),
    _channel("print", planned=144_000, sent=143_990, rejected=10, cost="136800.00", opened=12, opened_share=0.0001,
             reached_documents=143_990, paid=0, amounts_sent={"SEK": "149315.29"}),
]


def _cells(line: str) -> list[str]:
    """A markdown table row's cells (an escaped `\\|` stays inside its cell)."""
    assert line.startswith("|") and line.endswith("|"), line
    return [c.strip() for c in re.split(r"(?<!\\)\|", line[1:-1])]


def _table(markdown: str) -> list[list[str]]:
    rows = [_cells(line) for line in markdown.splitlines()]
    assert len({len(r) for r in rows}) == 1, "every row has as many cells as the header"
    return rows


def test_the_channel_table_has_one_row_per_channel_short_lines_and_numbers_right_aligned():
    text = channel_markdown(CHANNELS)
    header, rule, *rows = _table(text)
    assert header == ["channel", "planned", "sent", "deliv.", "failed", "rej.", "sched.", "pend.", "opened", "paid",
                      "cost €"]
    assert all(len(line) <= MAX_LINE for line in text.splitlines()), max(map(len, text.splitlines()))
    assert rule[0] == "-" * len(rule[0]) and all(re.fullmatch(r"-+:", c) for c in rule[1:])
    by_name = {r[0]: dict(zip(header, r)) for r in rows}
    assert list(by_name) == [c["channel"] for c in CHANNELS]
    assert by_name["einvoice"] == {"channel": "einvoice", "planned": "61000", "sent": "0", "deliv.": "61000",
                                        "failed": "0", "rej.": "0", "sched.": "0", "pend.": "0", "opened": "0%",
                                        "paid": "50%", "cost €": "7,320.00"}
    # the paid share is a share of documents: lines without documents (notices, service) have none
    assert (by_name["sms (companion)"]["paid"], by_name["mailbox (service)"]["paid"]) == ("–", "–")
    assert by_name["print"]["paid"] == "0%" and by_name["print"]["rej."] == "10"


def test_held_and_cancelled_columns_appear_only_when_a_channel_has_some():
    header = _table(channel_markdown(CHANNELS + [_channel("sms", planned=3, held=2, cancelled=1)]))[0]
    assert header[header.index("sched.") + 1] == "held" and "canc." in header


def test_amounts_are_one_row_per_channel_and_currency_with_sent_and_paid():
    header, rule, *rows = _table(amounts_markdown(CHANNELS))
    assert header == ["channel", "currency", "sent", "paid"] and rule[2].endswith(":") and rule[3].endswith(":")
    assert rows == [["einvoice", "DKK", "13,488,123.77", "0.00"], ["einvoice", "EUR", "66,968,999.02", "1,234.50"],
                    ["einvoice", "NOK", "19,376.39", "0.00"], ["einvoice", "SEK", "40,455.86", "0.00"],
                    ["print", "SEK", "149,315.29", "0.00"]]
    assert amounts_markdown([_channel("sms")]) == "No amounts sent."


def test_a_pipe_in_a_cell_does_not_break_the_row():
    rows = _table(markdown_table(["a", "b"], [["x|y", "1"]], left=1))
    assert rows[2] == ["x\\|y", "1"]


def test_the_reconciliation_artifact_has_tables_not_preformatted_text(monkeypatch: pytest.MonkeyPatch):
    published = {}
    monkeypatch.setattr(artifacts, "create_markdown_artifact", lambda **kw: published.update(kw))
    outcomes = ("sent", "delivered", "failed_transient", "failed_permanent", "scheduled", "pending")
    rec = {"channels": CHANNELS, "outcome": dict.fromkeys(outcomes, 1), "balanced": True, "accounted": 9,
           "invoice_rows": 9, "unreachable": 1, "quarantined": 1, "status": "incomplete",
           "messages": {"in_extract": 4, "outcome": dict.fromkeys(outcomes, 0), "suppressed": 4, "quarantined": 0}}
    artifacts.publish_reconciliation("demo", "2026-10", rec, "a terminal table " + "x" * 300)
    markdown = published["markdown"]
    assert published["key"] == "demo-2026-10-reconciliation"
    assert "```" not in markdown and "x" * 300 not in markdown
    assert channel_markdown(CHANNELS) in markdown and amounts_markdown(CHANNELS) in markdown
    assert "not sent by the rules 4" in markdown
    assert all(len(line) <= MAX_LINE for line in markdown.splitlines() if line.startswith("|"))
