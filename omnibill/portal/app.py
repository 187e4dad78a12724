"""`omnibill portal`: the recipients' web app, server-rendered (FastAPI + Jinja2), on the runs' ledger and store.

/d/{token}            the document: payment panel, interactive document, PDF, history, what was sent where
/d/{token}/pdf        the PDF as it was sent (or rendered again when none was stored)
/p/{token}            the preference center (GET: the form; POST: the choices, CSRF-protected)
/unsubscribe/{token}  one-click unsubscribe from marketing (RFC 8058 POST; GET asks to confirm)
/proof/{token}        a run's proof for the person who releases it (the token is in the run's Prefect artifacts)
/webhooks/{provider}  delivery reports, reads and payments pushed by providers (omnibill/portal/webhooks.py)
Unknown, expired or altered tokens answer 404 after the same ledger lookup (of no document).
"""

from __future__ import annotations

import logging
import re
import secrets
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from config.settings import Settings, get_settings
from omnibill import wiring
from omnibill.links import LinkSigner
from omnibill.portal import recipient
from omnibill.portal.security import Guard, csrf_ok, csrf_token
from omnibill.portal.webhooks import add_webhooks
from omnibill.render import render_pdf
from omnibill.render.html_doc import render_html_document
from omnibill.render.texts import format_date, language_of, texts_for

log = logging.getLogger("omnibill.portal")
CSRF_COOKIE = "omnibill_csrf"
TEMPLATES = Path(__file__).with_name("templates")


def create_app(settings: Settings | None = None) -> FastAPI:
    """The portal app for the settings (ledger, store, secret, rate limit)."""
    settings = settings or get_settings()
    opens = recipient.OpenRecorder(lambda: wiring.ledger(settings))

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        opens.flush()  # the opens of the last pages, before the process ends

    app = FastAPI(title="omnibill portal", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.opens = opens
    app.add_middleware(Guard, rate=settings.portal.rate_limit, storage=settings.portal.rate_limit_storage,
                       trust_forwarded_for=settings.portal.trust_forwarded_for, guarded=("/d/", "/p/", "/unsubscribe/"))
    add_webhooks(app, settings)
    pages = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    reader: LinkSigner = wiring.link_signer(settings=settings)
    client_key = wiring.derived_key("portal-client", settings)
    csrf_key = wiring.derived_key("portal-csrf", settings)

    def opened_or_none(token: str):
        # LinkSigner.read takes only the spelling it writes. A token that does not read is still looked up
        # (as no document), so tampered, expired and unknown tokens take the same time.
        document_id = reader.read(token, recipient.link_day())
        opened = recipient.find(wiring.ledger(settings), document_id or _NO_DOCUMENT)
        return opened if document_id else None

    def not_found(request: Request) -> HTMLResponse:
        html = pages.get_template("notfound.html.j2").render(lang="en", title="Not found", sender=None,
                                                              nonce=request.state.nonce)
        return HTMLResponse(html, status_code=404)

    def sender_of(opened):
        rules = wiring.tenant_rules(opened.run.tenant, settings)
        return rules, rules.to_sender(opened.customer.data.get("country"))

    @app.get("/proof/{token}", response_class=HTMLResponse, include_in_schema=False)
    def proof_page(token: str, request: Request) -> Response:
        """A run's proof page for the person who releases it (the token is in the run's Prefect artifacts)."""
        from omnibill.ledger.runs import run_by_id
        from omnibill.proof.stage import proof_key

        run_id = wiring.proof_run_id(token, settings)
        if run_id is None:
            return not_found(request)
        with wiring.ledger(settings).read() as session:
            run = run_by_id(session, run_id)
        if run is None:
            return not_found(request)
        store = wiring.document_store(settings)
        if not store.exists(proof_key(run)):
            return not_found(request)
        # The proof shows each channel as the recipient sees it: e-mails and pages in sandboxed frames, no script.
        return HTMLResponse(store.get(proof_key(run)).decode("utf-8"), headers={
            "Content-Security-Policy": "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
                                       "frame-src 'self'; frame-ancestors 'none'; base-uri 'none'"})

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:  # browsers ask for it on every page: no icon rather than a 404
        return Response(status_code=204)

    @app.api_route("/d/{token}", methods=["GET", "HEAD"], response_class=HTMLResponse)
    def document_page(token: str, request: Request) -> Response:
        opened = opened_or_none(token)
        if opened is None:
            return not_found(request)
        if opened.document is None:  # a service or marketing message: its link leads to the choices
            return RedirectResponse(f"/p/{token}", status_code=303)
        if recipient.is_person_reading(request.method, request.headers.get("user-agent")) and \
                recipient.unopened(opened):  # only a first open is written, queued: the page never waits for it
            opens.record(opened.row.id)
            log.info("document opened (link %s…)", token[:6])
        _, sender = sender_of(opened)
        lang = language_of(opened.document.customer.language)
        portal = {"nonce": request.state.nonce, "pdf_url": f"/d/{token}/pdf", "prefs_url": f"/p/{token}",
                  "sent": _sent(opened, lang),
                  "history": _history(opened, wiring.link_signer(opened.run.tenant, settings), lang)}
        return HTMLResponse(render_html_document(opened.document, sender, portal))

    @app.get("/d/{token}/pdf")
    def document_pdf(token: str, request: Request) -> Response:
        opened = opened_or_none(token)
        if opened is None or opened.document is None:
            return not_found(request)
        _, sender = sender_of(opened)
        pdf = _stored_pdf(opened, settings) or render_pdf(opened.document, sender)
        name = re.sub(r"[^A-Za-z0-9._-]", "_", opened.row.invoice_id)  # the ERP's number: no quotes, Latin-1 only
        return Response(pdf, media_type="application/pdf", headers={
            "Content-Disposition": f'attachment; filename="{name}.pdf"'})

    @app.get("/p/{token}", response_class=HTMLResponse)
    def preferences(token: str, request: Request, saved: int = 0) -> Response:
        opened = opened_or_none(token)
        if opened is None:
            return not_found(request)
        rules, sender = sender_of(opened)
        offered = recipient.offered_channels(rules, opened.customer.data)
        chosen = recipient.current_choices(wiring.ledger(settings), opened.run.tenant, opened.customer, offered)
        cookie = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
        lang = language_of(opened.customer.data.get("language"))
        html = pages.get_template("preferences.html.j2").render(
            lang=lang, t=texts_for(lang), title=texts_for(lang)["prefs_title"], sender=sender, nonce=request.state.nonce,
            offered=offered, chosen=chosen, saved=bool(saved), action=f"/p/{token}",
            csrf=csrf_token(csrf_key, token, cookie), back=f"/d/{token}" if opened.document else None)
        response = HTMLResponse(html)
        response.set_cookie(CSRF_COOKIE, cookie, httponly=True, samesite="strict", path="/p/",
                            secure=request.url.scheme == "https")
        return response

    @app.post("/p/{token}")
    async def choose(token: str, request: Request) -> Response:
        opened = opened_or_none(token)
        if opened is None:
            return not_found(request)
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode(), keep_blank_values=True).items()}
        if not csrf_ok(csrf_key, token, request.cookies.get(CSRF_COOKIE), form.get("csrf")):
            return PlainTextResponse("This form has expired: please open the page again.", status_code=403)
        rules, _ = sender_of(opened)
        offered = recipient.offered_channels(rules, opened.customer.data)
        picked = {c: form[c] for c in offered if c in form}
        recipient.save_choices(wiring.ledger(settings), opened.run.tenant, opened.customer.customer_id, picked, offered,
                               recipient.client_hash(client_key, request.state.client))
        return RedirectResponse(f"/p/{token}?saved=1", status_code=303)

    @app.api_route("/unsubscribe/{token}", methods=["GET", "POST"], response_class=HTMLResponse)
    def unsubscribe(token: str, request: Request) -> Response:
        opened = opened_or_none(token)
        if opened is None:
            return not_found(request)
        rules, sender = sender_of(opened)
        done = request.method == "POST"
        if done:  # RFC 8058: the POST itself is the unsubscribe, no login, no form token; repeating it is harmless
            recipient.unsubscribe(wiring.ledger(settings), rules, opened.run.tenant, opened.customer.customer_id,
                                  recipient.client_hash(client_key, request.state.client))
        lang = language_of(opened.customer.data.get("language"))
        return HTMLResponse(pages.get_template("unsubscribe.html.j2").render(
            lang=lang, t=texts_for(lang), title=texts_for(lang)["unsub_title"], sender=sender,
            nonce=request.state.nonce, done=done, action=f"/unsubscribe/{token}", prefs=f"/p/{token}"))

    return app


_NO_DOCUMENT = "0" * 32


def _sent(opened, lang: str) -> list[dict[str, str]]:
    """What was sent to the recipient, where and when, in their language."""
    t = texts_for(lang)
    rows = []
    for m in opened.messages[:20]:
        state = {"delivered": "delivered", "sent": "sent", "failed": "failed", "scheduled": "scheduled"}.get(
            m.state, "sending")
        rows.append({"date": format_date(m.updated_at.date(), lang), "channel": t[f"channel_{m.channel}"],
                     "state": t[f"state_{state}"]})
    return rows


def _history(opened, signer: LinkSigner, lang: str) -> list[dict[str, str]]:
    """The recipient's earlier documents with links to them (as long-lived as the tenant's links)."""
    from omnibill.render.texts import format_money

    t = texts_for(lang)
    return [{"title": t.get(d.document_type, d.document_type), "number": d.invoice_id,
             "date": format_date(d.issue_date, lang), "amount": format_money(d.total_incl_vat, d.currency, lang),
             "url": f"/d/{signer.token(d.id, d.issue_date)}"} for d in opened.history]


def _stored_pdf(opened, settings: Settings) -> bytes | None:
    """The PDF that was sent with one of the document's messages, if one was stored; else the archived
    PDF/A (kept for years, when the working store has let the document go)."""
    store = wiring.document_store(settings)
    for m in opened.messages:
        if m.document_id == opened.row.id and (key := (m.content or {}).get("pdf")):
            try:
                return store.get(key)
            except (FileNotFoundError, KeyError, OSError):
                continue
    from omnibill.archive.archive import fetch_archived
    from omnibill.store import open_store

    try:
        _, _, pdf = fetch_archived(wiring.ledger(settings), open_store(settings.resolved_archive_url(), settings.s3),
                                   opened.run.tenant, opened.row.invoice_id, opened.run.period)
    except (LookupError, OSError, ValueError):
        return None
    return pdf
