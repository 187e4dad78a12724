"""Prefect artifacts of a run: progress, channel table, reconciliation, failures, dry-run forecast."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any
from uuid import UUID

from prefect.artifacts import (create_markdown_artifact, create_progress_artifact, create_table_artifact,
                               update_progress_artifact)

from omnibill.reconcile.stage import release_line


def artifact_key(tenant: str, period: str, what: str) -> str:
    """A stable key (the UI groups artifacts by key across runs): lowercase letters, digits and dashes."""
    return re.sub(r"[^a-z0-9-]+", "-", f"{tenant}-{period}-{what}".lower()).strip("-")


class Progress:
    """One progress artifact per flow run, moved forward as stages and batches finish."""

    def __init__(self, tenant: str, period: str, what: str = "progress"):
        self.percent = self.published = 0.0
        self.description = f"Share of the {tenant} {period} run done (stages and batches)"
        self.id: UUID = create_progress_artifact(progress=0.0, key=artifact_key(tenant, period, what),
                                                 description=self.description)

    def at(self, percent: float) -> None:
        """Move to `percent` (never backwards: stages only add); published in steps of a whole point."""
        percent = min(percent, 100.0)
        if percent <= self.percent:
            return
        self.percent = percent
        # Whole points only: thousands of batches must not mean thousands of API calls.
        if percent - self.published >= 1 or percent == 100.0:
            self.published = percent
            # The description is sent again: an update without one leaves the card saying "No description".
            update_progress_artifact(self.id, percent, description=self.description)

    def between(self, start: float, end: float, done: int, total: int) -> None:
        """Move to `done/total` of the way from `start` to `end`."""
        self.at(start + (end - start) * (done / total if total else 1))


def publish_channels(tenant: str, period: str, rec: dict[str, Any]) -> None:
    """Table: one row per channel with planned, sent, delivered, failed, rejected, scheduled, pending, suppressed, cost,
    and the paid share (documents paid / documents that reached the recipient there, with the amounts paid)."""
    rows = [{"channel": c["channel"], "planned": c["planned"], "sent": c["sent"], "delivered": c["delivered"],
             "failed": c["failed"], "rejected": c["rejected"], "scheduled": c["scheduled"], "pending": c["pending"],
             "suppressed": 0, "cost_eur": f"{Decimal(c['cost']):.2f}", **_paid_columns(c)} for c in rec["channels"]]
    rows.append({"channel": "(none)", "planned": 0, "sent": 0, "delivered": 0, "failed": 0, "rejected": 0,
                 "scheduled": 0, "pending": 0, "suppressed": rec["unreachable"], "cost_eur": "0",
                 "paid": 0, "paid_share": "-", "amounts_paid": ""})
    create_table_artifact(key=artifact_key(tenant, period, "channels"), table=rows,
                          description=f"{tenant} {period} ({rec.get('status', '?')}): messages per channel (failed = "
                                      "transient, will be rerun; rejected = permanent, fallback planned; scheduled = "
                                      "waiting for the end of quiet hours; suppressed = nobody to send to)")


def _paid_columns(c: dict[str, Any]) -> dict[str, Any]:
    """A channel's paid documents, their share of the documents reached, and the amounts paid."""
    return {"paid": c.get("paid", 0), "paid_share": f"{100 * c.get('paid_share', 0):.1f}%",
            "amounts_paid": ", ".join(f"{cur} {Decimal(a):,.2f}"
                                      for cur, a in sorted(c.get("amounts_paid", {}).items()))}


def publish_reconciliation(tenant: str, period: str, rec: dict[str, Any], table_text: str = "") -> None:
    """Markdown report: the balance of documents in against documents accounted for, then per channel.

    `table_text` (the terminal's table) is no longer shown: preformatted text is cut off at the UI's edge.
    """
    o = rec["outcome"]
    verdict = "balanced" if rec["balanced"] else f"**NOT balanced** ({rec['accounted']} accounted)"
    left = o["failed_transient"] + o["pending"]
    scheduled = sum(c.get("scheduled", 0) for c in rec["channels"])
    todo = (f"**{left} documents are not delivered yet** (transient failures or pending): "
            f"`omnibill rerun --tenant {tenant} --period {period}`" if left else "")
    if scheduled:
        todo += (f" **{scheduled} messages are scheduled** for the end of the customers' quiet hours: the "
                 f"`release-scheduled/{tenant}-release` deployment (or `omnibill release-scheduled --tenant {tenant}`) "
                 "sends them when they are due.")
    todo = todo.strip() or "Nothing left to send."
    markdown = (f"# Reconciliation {tenant} {period}: {rec.get('status', '?')}\n\n"
                f"| documents | count |\n|---|---:|\n| in extract | {rec['invoice_rows']} |\n"
                f"| sent | {o['sent']} |\n| delivered | {o['delivered']} |\n"
                f"| failed, transient | {o['failed_transient']} |\n| failed, permanent | {o['failed_permanent']} |\n"
                f"| scheduled | {o['scheduled']} |\n"
                f"| pending | {o['pending']} |\n| unreachable (suppressed) | {rec['unreachable']} |\n"
                f"| quarantined | {rec['quarantined']} |\n"
                f"| reminders not sent, invoice paid | {rec.get('paid_unsent', 0)} |\n\n"
                f"**{verdict}.** {todo}\n\n"
                + (f"**{release_line(rec['release'])}**\n\n" if rec.get("release") else "")
                + f"## Per channel\n\n{channel_markdown(rec['channels'])}\n"
                f"{_messages_line(rec.get('messages') or {})}"
                f"\n## Amounts\n\n{amounts_markdown(rec['channels'])}\n")
    create_markdown_artifact(key=artifact_key(tenant, period, "reconciliation"), markdown=markdown,
                             description=f"Reconciliation of {tenant} {period}: documents in = accounted for")


# (column, key in the channel's dict): short names, so that the table fits the width of the UI's artifact page
CHANNEL_COLUMNS = (("planned", "planned"), ("sent", "sent"), ("deliv.", "delivered"), ("failed", "failed"),
                   ("rej.", "rejected"), ("sched.", "scheduled"), ("held", "held"), ("pend.", "pending"),
                   ("canc.", "cancelled"), ("opened", "opened_share"), ("paid", "paid_share"), ("cost €", "cost"))
RARE = ("held", "cancelled")  # shown only when a channel has some


def channel_markdown(channels: list[dict[str, Any]]) -> str:
    """The per-channel counts as a markdown table: short column names, numbers right-aligned."""
    columns = [(name, key) for name, key in CHANNEL_COLUMNS
               if key not in RARE or any(c.get(key) for c in channels)]
    rows = [[c["channel"]] + [_cell(c, key) for _, key in columns] for c in channels]
    return markdown_table(["channel"] + [name for name, _ in columns], rows, left=1)


def _cell(c: dict[str, Any], key: str) -> str:
    if key == "cost":
        return f"{Decimal(c['cost']):,.2f}"
    if key == "paid_share":  # a share of documents: only primary lines carry documents
        return f"{100 * c.get(key, 0):.0f}%" if c.get("reached_documents") else "–"
    if key == "opened_share":
        return f"{100 * c.get(key, 0):.0f}%"
    return str(c.get(key, 0))


def amounts_markdown(channels: list[dict[str, Any]]) -> str:
    """Amounts sent and paid per channel and currency, one row each (a column per currency would not fit)."""
    rows = []
    for c in channels:
        sent, paid = c.get("amounts_sent") or {}, c.get("amounts_paid") or {}
        rows += [[c["channel"], cur, f"{Decimal(sent.get(cur, 0)):,.2f}", f"{Decimal(paid.get(cur, 0)):,.2f}"]
                 for cur in sorted(set(sent) | set(paid))]
    return markdown_table(["channel", "currency", "sent", "paid"], rows, left=2) if rows else "No amounts sent."


def markdown_table(header: list[str], rows: list[list[str]], left: int) -> str:
    """A markdown table padded to line up in plain text too; the first `left` columns left-aligned, the rest right."""
    rows = [[_escape(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) if i < left else c.rjust(w)
                                 for i, (c, w) in enumerate(zip(cells, widths))) + " |"

    rule = "|" + "|".join(("-" * (w + 2)) if i < left else ("-" * (w + 1) + ":") for i, w in enumerate(widths)) + "|"
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def _escape(cell: str) -> str:
    """A cell's text with the characters that would break a markdown table row escaped."""
    return cell.replace("|", "\\|").replace("\n", " ")


def _messages_line(m: dict[str, Any]) -> str:
    """The extract's service and marketing messages, accounted for (nothing when there were none)."""
    if not m or not m.get("in_extract"):
        return ""
    o = m["outcome"]
    return (f"\nMessages in the extract (service, marketing): {m['in_extract']} = sent {o['sent'] + o['delivered']}"
            f" + failed {o['failed_transient'] + o['failed_permanent']} + scheduled {o['scheduled']}"
            f" + pending {o['pending']} + not sent by the rules {m['suppressed']} + quarantined {m['quarantined']}.\n")


def publish_failures(tenant: str, period: str, rows: list[dict[str, Any]]) -> None:
    """Table of failed messages with masked reasons (an empty table says there were none)."""
    create_table_artifact(key=artifact_key(tenant, period, "failures"),
                          table=rows or [{"batch": "-", "channel": "-", "invoice": "-", "kind": "-", "attempts": 0,
                                          "reason": "no failures"}],
                          description=f"{tenant} {period}: failed messages (first 500), personal data masked")


def publish_forecast(tenant: str, period: str, rows: list[dict[str, Any]], text: str) -> None:
    """Dry run: channel mix and cost forecast as a table and as markdown."""
    create_table_artifact(key=artifact_key(tenant, period, "forecast"), table=rows,
                          description=f"Dry run {tenant} {period}: channel mix and cost forecast (nothing sent)")
    create_markdown_artifact(key=artifact_key(tenant, period, "forecast-report"), markdown=f"```\n{text}\n```",
                             description=f"Dry run {tenant} {period}: what a real run would send and cost")


def forecast_text(tenant: str, period: str, rows: list[dict[str, Any]]) -> str:
    """The forecast as a terminal table."""
    lines = [f"Dry run {tenant} {period}: nothing was sent", f"{'channel':<10}{'messages':>10}{'share':>8}"
             f"{'cost EUR':>11}", "-" * 39]
    lines += [f"{r['channel']:<10}{r['messages']:>10}{r['share']:>8}{r['cost_eur']:>11}" for r in rows]
    total = sum(float(r["cost_eur"]) for r in rows)
    lines += ["-" * 39, f"{'total':<10}{sum(r['messages'] for r in rows):>10}{'':>8}{total:>11.2f}"]
    return "\n".join(lines)
