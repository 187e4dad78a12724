"""Helpers of the portal tests: a whole monthly run to test against, the portal served on a free port,
and what the sandbox providers received (SMS bodies, marketing e-mails' List-Unsubscribe headers)."""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, reset_caches, sandbox_for_test

PERIOD, NEXT_PERIOD = "2026-11", "2026-12"
TENANT = "demo"
# The demo extract of this seed and size has SMS invoices to customers who also have an e-mail address,
# e-mailed invoices and marketing e-mails: every path of the portal has someone to take it.
SEED, CUSTOMERS = 4, 120
# A phone's browser; and what mail, chat and social apps send when they fetch a link for its preview.
BROWSER_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
              "Version/17.5 Mobile/15E148 Safari/604.1")
PREVIEW_UAS = (
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "WhatsApp/2.23.20.0 A",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) Version/9.0.1 "
    "Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0",  # iMessage
    "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "TelegramBot (like TwitterBot)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) SkypeUriPreview Preview/0.5",  # Teams
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",  # Gmail
    "python-httpx/0.27.0",
)
URL_TOKEN = re.compile(r"https?://[^\s/]+/(?:d|p|unsubscribe)/([A-Za-z0-9_-]+)")


def run_cli(*args: str) -> str:
    """An `omnibill` command through Typer's runner; fails the test unless it exits 0."""
    from typer.testing import CliRunner

    from omnibill.cli.app import app

    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def monthly_run(extract: Path, period: str, *, customers: int = CUSTOMERS, seed: int = SEED) -> None:
    """A demo extract of the period (the same seed gives the same customers) and `omnibill run` on it."""
    from omnibill.demo_data import write_demo_extract

    write_demo_extract(extract, customers=customers, period=period, seed=seed)
    run_cli("run", "--tenant", TENANT, "--period", period, "--source", str(extract))


def status(period: str = PERIOD) -> list[dict[str, Any]]:
    """`omnibill status --json` of the demo tenant's period."""
    return json.loads(run_cli("status", "--tenant", TENANT, "--period", period, "--json"))


def isolate(mp: pytest.MonkeyPatch, var: Path) -> None:
    """What the `omnibill_env` fixture does, for a setup that outlives one test."""
    for key in list(os.environ):
        if key.startswith("OMNIBILL_") and key not in ("OMNIBILL_TEST_POSTGRES_URL", "OMNIBILL_VALIDATION_DIR"):
            mp.delenv(key)
    mp.setenv("OMNIBILL_DATA_DIR", str(var))
    mp.setenv("OMNIBILL_SECRET_KEY", "a test secret, never a real one")
    mp.setenv("OMNIBILL_TENANTS_DIR", str(REPO / "config" / "tenants"))
    reset_caches()


@dataclass
class World:
    """A finished monthly run of the demo tenant, its data folder and the sandbox that received it."""

    var: Path
    box: Any  # omnibill.sandbox.Sandbox, still running
    rows: list[dict[str, Any]]

    @property
    def sandbox_dir(self) -> Path:
        return self.var / "sandbox"


@contextmanager
def monthly_world(tmp: Path, **env: str) -> Iterator[World]:
    """Isolated settings (plus OMNIBILL_<env>), the sandbox, and the PERIOD's run done; undone afterwards."""
    with pytest.MonkeyPatch.context() as mp:
        var = tmp / "var"
        isolate(mp, var)
        with sandbox_for_test(var, mp, BATCH_SIZE="120", **env) as box:
            monthly_run(tmp / "extract", PERIOD)
            yield World(var, box, status(PERIOD))
    reset_caches()


def linked_rows(rows: list[dict[str, Any]], channel: str | None = None, document_type: str = "invoice"
                ) -> list[dict[str, Any]]:
    """Status rows of sent primary messages that carry a link (e-mail and SMS), optionally of one channel."""
    return [r for r in rows if r.get("link") and r["kind"] == "primary" and r["state"] in ("sent", "delivered")
            and r["document_type"] == document_type and (channel is None or r["channel"] == channel)]


def token_of(link: str) -> str:
    """The token of a portal link (document, choices or unsubscribe)."""
    found = URL_TOKEN.search(link)
    assert found, link
    return found.group(1)


def path_of(link: str) -> str:
    """A portal link's path (the demo tenant's links name 127.0.0.1:8030, the tests serve elsewhere)."""
    return "/" + link.split("://", 1)[1].split("/", 1)[1]


def received_sms(sandbox_dir: Path) -> list[dict[str, Any]]:
    """Every SMS the sandbox SMS providers received: {"to", "text"} (46elks and Twilio take a form)."""
    from urllib.parse import parse_qs

    from omnibill.sandbox import SandboxLedger

    def posted(path: Path) -> dict[str, Any]:
        if path.suffix == ".json":
            return json.loads(path.read_text())
        form = {k: v[0] for k, v in parse_qs(path.read_text()).items()}
        return {"to": form.get("to") or form.get("To"), "text": form.get("message") or form.get("Body", "")}

    box = SandboxLedger(sandbox_dir)
    try:
        return [posted(sandbox_dir / r.path) for r in box.list("sms", unique=True)]
    finally:
        box.close()


def received_emails(sandbox_dir: Path) -> list[email.message.EmailMessage]:
    """Every e-mail the sandbox SMTP server received (the .eml files), parsed."""
    from omnibill.sandbox import SandboxLedger

    box = SandboxLedger(sandbox_dir)
    try:
        paths = [sandbox_dir / r.path for r in box.list("email", unique=True)]
    finally:
        box.close()
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in paths]


def one_click_urls(message: email.message.EmailMessage) -> list[str]:
    """The https/http URLs of a message's List-Unsubscribe header, when it offers RFC 8058 one-click."""
    if str(message.get("List-Unsubscribe-Post", "")).strip() != "List-Unsubscribe=One-Click":
        return []
    return [u for u in re.findall(r"<([^>]+)>", str(message.get("List-Unsubscribe", "")))
            if u.startswith(("http://", "https://"))]


def document_of(token: str):
    """(Document row, Customer row) behind a link token, read from the ledger."""
    from omnibill import wiring
    from omnibill.ledger.portal import document_behind_link
    from omnibill.portal.recipient import link_day

    document_id = wiring.link_signer().read(token, link_day())
    assert document_id, f"token {token[:6]}… does not read"
    with wiring.ledger().transaction() as session:
        row, customer, _ = document_behind_link(session, document_id)
        session.expunge_all()
    return row, customer


def preferences_of(customer_id: str) -> list[dict[str, Any]]:
    """The preference rows stored for a demo customer (portal and unsubscribe), oldest first."""
    from sqlalchemy import select

    from omnibill import wiring
    from omnibill.ledger.models import Preference

    with wiring.ledger().transaction() as session:
        rows = session.scalars(select(Preference).where(Preference.tenant == TENANT,
                                                        Preference.customer_id == customer_id)
                               .order_by(Preference.recorded_at, Preference.id))
        return [{"category": p.category, "channel": p.channel, "status": p.status, "source": p.source,
                 "client_hash": p.client_hash} for p in rows]


def expected_amount(row, customer) -> str:
    """The amount to pay as the page writes it in the customer's language (spaces made plain)."""
    from omnibill.render.texts import format_money

    return plain(format_money(row.total_incl_vat, row.currency, customer.data.get("language") or "en"))


def plain(text: str) -> str:
    """Text with no-break and narrow spaces made plain and runs of white space made one."""
    return " ".join(text.replace("\u00a0", " ").replace("\u202f", " ").split())


def page_text(html: str) -> str:
    """The visible text of an HTML page (scripts and styles left out), spaces made plain."""
    import lxml.html

    tree = lxml.html.fromstring(html)
    for node in tree.xpath("//script|//style"):
        node.drop_tree()
    return plain(tree.text_content())


@contextmanager
def serve(app, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """The app served by uvicorn on a free port in a thread: yields its base URL."""
    import uvicorn

    # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say so, and without it every
    # answer on a kept-alive connection waits 40 ms for the client's delayed ACK (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="portal-test")
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the portal did not start")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()
