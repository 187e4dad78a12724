"""The recipients' portal over HTTP after a real monthly run: document page, read receipts, PDF, choices, unsubscribe.

Most tests share one run of the demo tenant (the `world` fixture of tests/portal/conftest.py) and the portal
served by uvicorn on a free port; the choice that routes the next period's invoice has runs of its own.
"""

from __future__ import annotations

import re
from datetime import date

import httpx
import pytest

from tests.integration.test_run_end_to_end import sandbox  # noqa: F401  (fixture)
from tests.portal.support import (BROWSER_UA, NEXT_PERIOD, PERIOD, PREVIEW_UAS, TENANT, document_of,
                                  expected_amount, linked_rows, monthly_run, page_text, path_of, preferences_of,
                                  run_cli, serve, status, token_of)

pytestmark = pytest.mark.slow
BROWSER = {"User-Agent": BROWSER_UA}


@pytest.fixture(scope="module")
def app(world):
    """The portal app on the world's ledger."""
    from omnibill.portal.app import create_app

    return create_app()


@pytest.fixture(scope="module")
def portal(app):
    """The portal app served by uvicorn on a free port in a thread: its base URL."""
    with serve(app) as base:
        yield base


@pytest.fixture(scope="module")
def http(portal):
    with httpx.Client(base_url=portal, headers=BROWSER, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def links(world) -> dict[str, list[dict]]:
    """Sent invoice messages with links, by channel (each test takes its own, so opens do not mix)."""
    rows = linked_rows(world.rows)
    by_channel = {"sms": [r for r in rows if r["channel"] == "sms"],
                  "email": [r for r in rows if r["channel"] == "email"]}
    assert len(by_channel["sms"]) >= 2 and len(by_channel["email"]) >= 4, by_channel
    return by_channel


def _opened(app, message_id: str) -> str | None:
    app.state.opens.flush()  # the portal writes opens after answering
    return next(r for r in status(PERIOD) if r["message_id"] == message_id)["opened_at"]


def _csp(response: httpx.Response) -> dict[str, list[str]]:
    policy = response.headers["content-security-policy"]
    return {d.split()[0]: d.split()[1:] for d in (p.strip() for p in policy.split(";")) if d}


def test_status_gives_full_links_on_email_and_sms(world, links):
    for row in links["sms"] + links["email"]:
        assert re.fullmatch(r"http://127\.0\.0\.1:8030/d/[A-Za-z0-9_-]{43}", row["link"]), row["link"]
        assert row["customer_id"] not in row["link"] and row["document_id"] not in row["link"]
    assert all(r["link"] is None for r in world.rows if r["channel"] in ("print", "einvoice"))


def test_document_page_shows_the_payment_and_records_the_open(app, http, links, caplog):
    from omnibill.render.texts import language_of

    caplog.set_level("INFO", logger="omnibill")  # (no DEBUG for all: status --json must stay JSON)
    row = links["sms"][0]
    assert _opened(app, row["message_id"]) is None
    token = token_of(row["link"])
    response = http.get(path_of(row["link"]))
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")

    document, customer = document_of(token)
    text = page_text(response.text)
    assert expected_amount(document, customer) in text
    assert re.sub(r"\s", "", document.payment_reference) in text.replace(" ", "")
    assert row["document_id"] in text  # the invoice number
    assert f'href="/d/{token}/pdf"' in response.text and f'href="/p/{token}"' in response.text
    assert f'<html lang="{language_of(customer.data.get("language"))}">' in response.text  # the customer's language

    # security headers: a CSP whose only script is ours, by nonce; no framing, no referrer
    csp = _csp(response)
    nonce = re.search(r"'nonce-([A-Za-z0-9_-]+)'", " ".join(csp["script-src"])).group(1)
    assert "'unsafe-inline'" not in csp["script-src"] and "'unsafe-eval'" not in csp["script-src"]
    assert csp["default-src"] == ["'none'"] and csp["frame-ancestors"] == ["'none'"]
    scripts = re.findall(r"<script([^>]*)>", response.text)
    assert scripts and all(f'nonce="{nonce}"' in attrs for attrs in scripts)
    assert all(f'nonce="{nonce}"' in attrs for attrs in re.findall(r"<style([^>]*)>", response.text))
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "no-store" in response.headers["cache-control"]
    assert http.get(path_of(row["link"])).headers["content-security-policy"] != response.headers[
        "content-security-policy"]  # a fresh nonce per answer

    opened = _opened(app, row["message_id"])
    assert opened is not None
    http.get(path_of(row["link"]))
    assert _opened(app, row["message_id"]) == opened  # the first open is kept

    # the portal logged the open, with no token, no name, no address in it
    assert any("opened" in r.getMessage() for r in caplog.records if r.name.startswith("omnibill.portal"))
    logged = "\n".join(f"{r.name}: {r.getMessage()}" for r in caplog.records
                       if not r.name.startswith(("httpx", "httpcore")))  # the test's own client logs its URLs
    personal = [token, customer.data["name"], customer.data.get("email"), customer.data.get("mobile"),
                document.payment_reference]
    assert not [p for p in personal if p and p in logged], logged


def test_head_and_link_previews_do_not_count_as_opened(app, http, links):
    row = links["email"][0]
    path = path_of(row["link"])
    head = http.head(path)
    assert head.status_code == 200 and head.content == b""
    for agent in PREVIEW_UAS + ("", "curl/8.5.0"):
        response = http.get(path, headers={"User-Agent": agent})
        assert response.status_code == 200, agent
    assert _opened(app, row["message_id"]) is None
    http.get(path)  # then the recipient opens it
    assert _opened(app, row["message_id"]) is not None


def test_a_page_does_not_wait_for_a_run_that_is_writing(app, http, links):
    """While a run holds the ledger's write lock, the page answers at once; its open is stored afterwards."""
    import threading
    import time

    from omnibill import wiring

    row = links["email"][3]
    holding, release = threading.Event(), threading.Event()

    def run_writing() -> None:
        with wiring.ledger().transaction() as session:
            session.connection()  # BEGIN IMMEDIATE: SQLite's write lock, held until the transaction ends
            holding.set()
            release.wait(20)

    writer = threading.Thread(target=run_writing)
    writer.start()
    try:
        assert holding.wait(10)
        started = time.perf_counter()
        assert http.get(path_of(row["link"])).status_code == 200
        assert time.perf_counter() - started < 2.0
    finally:
        release.set()
        writer.join(20)
    assert _opened(app, row["message_id"]) is not None


def test_changed_expired_and_unknown_tokens_answer_404(app, http, links, world):
    from omnibill import wiring

    row = links["email"][1]
    token = token_of(row["link"])
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    changed = []
    for pos in range(len(token)):  # every position, the last included
        for ch in (alphabet[(alphabet.index(token[pos]) + step) % 64] for step in (1, 2, 3, 32)):
            changed.append(token[:pos] + ch + token[pos + 1:])
    for bad in changed:
        assert http.get(f"/d/{bad}").status_code == 404, bad
    for other in (token + "=", token.replace("-", "+", 1) if "-" in token else token + "A", token[:-1], "x",
                  "A" * 43, "../" + token):
        assert http.get(f"/d/{other}").status_code == 404, other

    document, _ = document_of(token)
    signer = wiring.link_signer(TENANT)
    expired = signer.token(document.id, date(2020, 1, 1))  # its link expired 13 months later
    unknown = signer.token("0" * 32, document.issue_date)  # signed, but no such document
    for bad in (expired, unknown, changed[0]):
        for path in (f"/d/{bad}", f"/d/{bad}/pdf", f"/p/{bad}", f"/unsubscribe/{bad}"):
            response = http.get(path)
            assert response.status_code == 404, path
            assert "does not open a document" in response.text
        assert http.post(f"/unsubscribe/{bad}", content=b"List-Unsubscribe=One-Click").status_code == 404
    assert _opened(app, row["message_id"]) is None  # none of that opened the real one
    assert http.get(path_of(row["link"])).status_code == 200


def test_bad_tokens_do_the_same_ledger_work_as_unknown_ones(world, monkeypatch):
    """A tampered or expired token is looked up like one for a missing document: no timing tells them apart."""
    from fastapi.testclient import TestClient

    from omnibill import wiring
    from omnibill.portal import recipient
    from omnibill.portal.app import create_app

    looked_up = []
    real = recipient.find
    monkeypatch.setattr(recipient, "find", lambda ledger, document_id: looked_up.append(document_id) or real(
        ledger, document_id))
    token = token_of(linked_rows(world.rows, "email")[2]["link"])
    unknown = wiring.link_signer(TENANT).token("0" * 32, date(2026, 11, 1))
    with TestClient(create_app()) as client:
        for bad in (token[:10] + ("B" if token[10] == "A" else "A") + token[11:], unknown, "garbage"):
            assert client.get(f"/d/{bad}", headers=BROWSER).status_code == 404
    assert len(looked_up) == 3


def test_pdf_download(app, http, links):
    row = links["email"][2]
    response = http.get(path_of(row["link"]) + "/pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-") and len(response.content) > 5000
    assert f'{row["document_id"]}.pdf' in response.headers["content-disposition"]
    assert _opened(app, row["message_id"]) is None  # the PDF alone is not a read receipt


@pytest.mark.parametrize("document_type", ["credit_note", "reminder"])
def test_credit_notes_and_reminders_have_their_own_texts(http, world, document_type):
    from sqlalchemy import select

    from omnibill import wiring
    from omnibill.ledger.models import Document
    from omnibill.render.texts import language_of, texts_for

    with wiring.ledger().read() as session:
        document = session.scalars(select(Document).where(Document.document_type == document_type,
                                                          Document.decision.is_not(None))).first()
    assert document is not None, f"no {document_type} in the demo run"
    token = wiring.link_signer(TENANT).token(document.id, document.issue_date)
    response = http.get(f"/d/{token}")
    assert response.status_code == 200
    _, customer = document_of(token)
    t = texts_for(language_of(customer.data.get("language")))
    text = page_text(response.text)
    assert t[document_type] in text  # "Credit note", "Payment reminder" in the customer's language
    if document_type == "credit_note":
        assert t["to_credit"] in text and t["to_pay"] not in text and t["due_date"] not in text
    else:
        assert t["to_pay"] in text and t["due_date"] in text


def test_marketing_link_leads_to_the_choices(http, world):
    row = next(r for r in world.rows if r["document_type"] == "marketing" and r.get("link"))
    response = http.get(path_of(row["link"]), follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == f"/p/{token_of(row['link'])}"


def test_preference_center_form_needs_its_csrf_token(portal, links, world):
    from omnibill.portal import recipient
    from omnibill import wiring

    row = links["sms"][1]
    token = token_of(row["link"])
    _, customer = document_of(token)
    offered = recipient.offered_channels(wiring.tenant_rules(TENANT), customer.data)
    with httpx.Client(base_url=portal, headers=BROWSER, timeout=30) as browser:
        page = browser.get(f"/p/{token}")
        assert page.status_code == 200
        shown = {}
        for name, value in re.findall(r'<input type="radio" name="(\w+)" value="(\w*)"', page.text):
            shown.setdefault(name, []).append(value)
        assert {c: [v for v in vs if v] for c, vs in shown.items()} == {c: v for c, v in offered.items() if v}
        assert "email" in offered["invoice"] and row["channel"] != "email"
        assert re.search(r'name="invoice" value="sms" checked', page.text)  # their current channel
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)
        assert browser.cookies.get("omnibill_csrf")
        cookie = page.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/p/" in cookie
        form = {"csrf": csrf, "invoice": "email", "marketing": ""}

        # a form posted from elsewhere: no cookie, no token, or a token of another browser
        with httpx.Client(base_url=portal, headers=BROWSER, timeout=30) as stranger:
            assert stranger.post(f"/p/{token}", data={"invoice": "email"}).status_code == 403
            assert stranger.post(f"/p/{token}", data=form).status_code == 403
            stranger.get(f"/p/{token}")  # its own cookie, but the other browser's token
            assert stranger.post(f"/p/{token}", data=form).status_code == 403
        assert browser.post(f"/p/{token}", data={"invoice": "email"}).status_code == 403
        assert browser.post(f"/p/{token}", data=form | {"csrf": "0" * 64}).status_code == 403
        assert preferences_of(customer.customer_id) == []

        saved = browser.post(f"/p/{token}", data=form, follow_redirects=False)
        assert saved.status_code == 303 and saved.headers["location"] == f"/p/{token}?saved=1"
        confirmation = browser.get(saved.headers["location"])
        assert 'role="status"' in confirmation.text
        assert re.search(r'name="invoice" value="email" checked', confirmation.text)

    stored = preferences_of(customer.customer_id)
    invoice = {p["channel"]: p["status"] for p in stored if p["category"] == "invoice"}
    assert invoice == {c: "opt_in" if c == "email" else "opt_out" for c in offered["invoice"]}
    assert {p["status"] for p in stored if p["category"] == "marketing"} == {"opt_out"}
    assert {p["source"] for p in stored} == {"portal"}
    assert all(p["client_hash"] and "127.0.0.1" not in p["client_hash"] for p in stored)  # never the address
    assert not any(p["category"] in ("reminder", "service") for p in stored)  # not in the form: unchanged


def test_one_click_unsubscribe(portal, world):
    from omnibill.ledger.portal import latest_preferences
    from omnibill import wiring

    row = next(r for r in world.rows if r["document_type"] == "marketing" and r["channel"] == "email"
               and r["state"] == "sent")
    token = token_of(row["link"])
    customer_id = row["customer_id"]
    # what a mail client does (RFC 8058): a POST with this body, no cookie, no login, no redirect to follow
    with httpx.Client(base_url=portal, timeout=30) as mail_client:
        confirm = mail_client.get(f"/unsubscribe/{token}", headers=BROWSER)
        assert confirm.status_code == 200 and '<form method="post"' in confirm.text
        assert preferences_of(customer_id) == []  # a GET only asks
        for _ in range(2):  # repeating it is harmless
            response = mail_client.post(f"/unsubscribe/{token}", content=b"List-Unsubscribe=One-Click",
                                        headers={"Content-Type": "application/x-www-form-urlencoded"})
            assert response.status_code == 200
            assert 'role="status"' in response.text
            with wiring.ledger().transaction() as session:
                latest = latest_preferences(session, TENANT, [customer_id])[customer_id]
            assert set(latest) == {"marketing"}
            assert {v["status"] for v in latest["marketing"].values()} == {"opt_out"}
            assert {v["source"] for v in latest["marketing"].values()} == {"unsubscribe"}
            assert "email" in latest["marketing"]
        assert not mail_client.cookies


def _app_with(monkeypatch, **portal: str):
    """A portal app built with these OMNIBILL_PORTAL__* settings (the environment restored afterwards)."""
    from config.settings import get_settings
    from omnibill.portal.app import create_app

    for key, value in portal.items():
        monkeypatch.setenv(f"OMNIBILL_PORTAL__{key}", value)
    get_settings.cache_clear()
    try:
        return create_app()
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_rate_limit_per_client(world, monkeypatch):
    from fastapi.testclient import TestClient

    app = _app_with(monkeypatch, RATE_LIMIT="5/minute")
    token = token_of(linked_rows(world.rows, "email")[3]["link"])
    with TestClient(app) as client:
        answers = [client.get(path, headers=BROWSER).status_code
                   for path in (f"/d/{token}", f"/d/{token}/pdf", f"/p/{token}", "/d/nonsense", f"/d/{token}")]
        assert answers == [200, 200, 200, 404, 200]
        sixth = client.get(f"/d/{token}", headers=BROWSER)
        assert sixth.status_code == 429 and sixth.headers["retry-after"]
        assert "content-security-policy" in sixth.headers
        # a forged X-Forwarded-For does not buy new requests (the portal is not told to trust a proxy)
        assert client.get(f"/d/{token}", headers=BROWSER | {"X-Forwarded-For": "203.0.113.9"}).status_code == 429
        assert client.post(f"/unsubscribe/{token}", content=b"List-Unsubscribe=One-Click").status_code == 429
        assert client.get("/healthz").status_code == 200  # only the link endpoints are limited


def test_rate_limit_behind_a_trusted_proxy_counts_the_hop_it_added(world, monkeypatch):
    from fastapi.testclient import TestClient

    app = _app_with(monkeypatch, RATE_LIMIT="3/minute", TRUST_FORWARDED_FOR="true")
    with TestClient(app) as client:
        # a proxy that appends: the client's own made-up hops come first, the proxy's view of it last
        answers = [client.get("/d/nonsense", headers={"X-Forwarded-For": f"10.0.0.{n}, 198.51.100.7"}).status_code
                   for n in range(4)]
        assert answers == [404, 404, 404, 429]
        assert client.get("/d/nonsense", headers={"X-Forwarded-For": "198.51.100.8"}).status_code == 404


def test_choice_in_the_portal_routes_the_next_run(prefect_harness, omnibill_env, sandbox, tmp_path):
    """Choose e-mail for invoices in the portal; the next period's invoice goes by e-mail; explain says why."""
    from omnibill import wiring
    from omnibill.portal import recipient
    from omnibill.portal.app import create_app

    monthly_run(tmp_path / "november", PERIOD)
    rules = wiring.tenant_rules(TENANT)
    candidates = []
    for row in status(PERIOD):
        if row["kind"] == "primary" and row["document_type"] == "invoice" and row["state"] in ("sent", "delivered") \
                and row["channel"] != "email":
            token = token_of(row["link"]) if row.get("link") else None
            if token is None:  # a letter or a mailbox: build the link as the render stage does
                with wiring.ledger().transaction() as session:
                    from omnibill.ledger.models import Document
                    from sqlalchemy import select

                    doc = session.scalars(select(Document).where(Document.invoice_id == row["document_id"])).one()
                    token = wiring.link_signer(TENANT).token(doc.id, doc.issue_date)
            _, customer = document_of(token)
            if "email" in recipient.offered_channels(rules, customer.data)["invoice"]:
                candidates.append((row["channel"] != "sms", row, token, customer))
    assert candidates, "no customer of the demo extract can switch to e-mail"
    _, row, token, customer = sorted(candidates, key=lambda c: c[0])[0]  # one who got an SMS, if any

    with serve(create_app()) as base, httpx.Client(base_url=base, headers=BROWSER, timeout=30) as browser:
        page = browser.get(f"/p/{token}")
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)
        saved = browser.post(f"/p/{token}", data={"csrf": csrf, "invoice": "email"}, follow_redirects=False)
        assert saved.status_code == 303

    monthly_run(tmp_path / "december", NEXT_PERIOD)
    december = [r for r in status(NEXT_PERIOD) if r["customer_id"] == customer.customer_id
                and r["document_type"] in ("invoice", "credit_note") and r["kind"] == "primary"]
    assert december, f"{customer.customer_id} has no invoice in {NEXT_PERIOD}"
    assert {r["channel"] for r in december if r["fallback_of"] is None} == {"email"}, december
    assert all(r["state"] == "sent" and r["link"] for r in december)
    explained = run_cli("explain", "--tenant", TENANT, "--period", NEXT_PERIOD, "--customer", customer.customer_id)
    assert "chosen in the portal on" in explained, explained

    # December's page lists November's document (history, with a link that opens) and what was sent where
    from omnibill.render.texts import language_of, texts_for

    t = texts_for(language_of(customer.data.get("language")))
    with serve(create_app()) as base, httpx.Client(base_url=base, headers=BROWSER, timeout=30) as browser:
        page = browser.get(path_of(december[0]["link"]))
        assert page.status_code == 200
        text = page_text(page.text)
        assert t["history"] in text and row["document_id"] in text
        earlier = re.findall(r'<a href="(/d/[A-Za-z0-9_-]{43})">', page.text)
        assert earlier and all(browser.get(u).status_code == 200 for u in earlier)
        assert t["sent_to_you"] in text and t["channel_email"] in text
