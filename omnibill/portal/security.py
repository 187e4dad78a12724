"""The portal's guards: security headers with a script nonce, a rate limit per client, CSRF tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response


def csp(nonce: str) -> str:
    """No script but ours (by nonce), nothing from elsewhere, no framing."""
    return ("default-src 'none'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            f"script-src 'nonce-{nonce}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


class Guard(BaseHTTPMiddleware):
    """Security headers on every answer; a moving-window rate limit per client on the link endpoints."""

    def __init__(self, app, *, rate: str, storage: str, trust_forwarded_for: bool, guarded: tuple[str, ...]):
        super().__init__(app)
        self.limit = parse(rate)
        self.limiter = MovingWindowRateLimiter(storage_from_string(storage))
        self.trust_forwarded_for = trust_forwarded_for
        self.guarded = guarded

    def client(self, request: Request) -> str:
        """The client's address (behind a trusted proxy: the X-Forwarded-For hop that proxy added, the last).

        Not the first: a proxy that appends to the header keeps whatever the client sent in front, so the
        first hop is the client's to choose (and a new one for every request would escape the rate limit).
        """
        if self.trust_forwarded_for and (forwarded := request.headers.get("x-forwarded-for")):
            return forwarded.split(",")[-1].strip()
        return request.client.host if request.client else ""

    async def dispatch(self, request: Request, call_next) -> Response:
        request.state.nonce = secrets.token_urlsafe(16)
        request.state.client = self.client(request)
        if request.url.path.startswith(self.guarded) and not self.limiter.hit(self.limit, "portal",
                                                                                request.state.client):
            response: Response = PlainTextResponse("Too many requests: try again in a minute.", status_code=429,
                                                   headers={"Retry-After": "60"})
        else:
            response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", csp(request.state.nonce))  # unless the page set its own
        response.headers.update({
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY", "Cache-Control": "no-store",
            "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
            "Cross-Origin-Opener-Policy": "same-origin"})
        return response


def csrf_token(key: bytes, link_token: str, cookie: str) -> str:
    """The form's CSRF token: bound to the link and to the browser's own cookie."""
    return hmac.new(key, f"csrf\x1f{link_token}\x1f{cookie}".encode(), hashlib.sha256).hexdigest()


def csrf_ok(key: bytes, link_token: str, cookie: str | None, sent: str | None) -> bool:
    """Whether a posted form carries the CSRF token of this link and this browser."""
    return bool(cookie and sent) and hmac.compare_digest(csrf_token(key, link_token, cookie), sent or "")
