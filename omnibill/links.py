"""Links to a recipient's document: unguessable, signed with the secret from settings, expiring, stable.

A token carries the document's ledger id and the day its link expires, and a 96-bit HMAC of both
under the tenant's link key: reruns render the same link, nobody without the secret can make one,
and nothing personal is in it. `read` answers the document id only for an intact, unexpired token,
doing the same work for every token so that a wrong one cannot be told apart by timing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from datetime import date, timedelta

_EPOCH = date(1970, 1, 1)
_MAC_BYTES = 12  # 96 bits: the unguessable part
_LENGTH = 16 + 4 + _MAC_BYTES  # document id, expiry day, MAC
_BLANK = bytes(_LENGTH)


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month, d)
        except ValueError:
            continue
    raise ValueError(day)


@dataclass(frozen=True)
class LinkSigner:
    """Makes and reads the link tokens of one tenant (`key` from the secret, `months` from the tenant rules)."""

    key: bytes
    months: int = 13

    def expiry(self, issued: date) -> date:
        """The last day a link to a document issued on `issued` opens."""
        return _add_months(issued, self.months)

    def token(self, document_id: str, issued: date) -> str:
        """The token of a document's link (43 URL-safe characters)."""
        payload = bytes.fromhex(document_id) + (self.expiry(issued) - _EPOCH).days.to_bytes(4, "big")
        mac = hmac.new(self.key, payload, hashlib.sha256).digest()[:_MAC_BYTES]
        return base64.urlsafe_b64encode(payload + mac).decode().rstrip("=")

    def read(self, token: str, today: date) -> str | None:
        """The document id of an intact token that has not expired, else None."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            raw = b""
        # Only the spelling `token()` writes: base64 decoding alone would also take '+' for '-', an added '='
        # or another final character carrying the same bits.
        intact_length = len(raw) == _LENGTH and base64.urlsafe_b64encode(raw).decode().rstrip("=") == token
        raw = raw if intact_length else _BLANK  # the same work for garbage as for a real token
        payload, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
        expected = hmac.new(self.key, payload, hashlib.sha256).digest()[:_MAC_BYTES]
        if not (hmac.compare_digest(mac, expected) and intact_length):
            return None
        if _EPOCH + timedelta(days=int.from_bytes(payload[16:20], "big")) < today:
            return None
        return payload[:16].hex()
