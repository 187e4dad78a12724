"""The document links' tokens (omnibill/links.py): signed, expiring, stable, nothing personal in them."""

from __future__ import annotations

import base64
import re
import string
from datetime import date, timedelta

import pytest

from omnibill.links import LinkSigner
from omnibill.model import document_key

KEY = bytes(range(32))
ISSUED = date(2026, 11, 18)
ALPHABET = string.ascii_letters + string.digits + "-_"
DOC_IDS = [document_key("demo", "2026-11", f"INV-{n:06d}") for n in range(40)] + ["0" * 32, "f" * 32]


def _others(ch: str) -> list[str]:
    return [c for c in ALPHABET if c != ch]


@pytest.fixture
def signer() -> LinkSigner:
    return LinkSigner(KEY, months=13)


def test_round_trip(signer):
    for doc_id in DOC_IDS:
        token = signer.token(doc_id, ISSUED)
        assert signer.read(token, ISSUED) == doc_id
        assert signer.read(token, signer.expiry(ISSUED)) == doc_id  # still open on its last day


def test_expiry_is_the_tenant_lifetime_in_months():
    assert LinkSigner(KEY).expiry(ISSUED) == date(2027, 12, 18)
    assert LinkSigner(KEY, months=1).expiry(date(2026, 1, 31)) == date(2026, 2, 28)  # month end clamps
    assert LinkSigner(KEY, months=12).expiry(date(2028, 2, 29)) == date(2029, 2, 28)


def test_expired_token_reads_as_none(signer):
    token = signer.token(DOC_IDS[0], ISSUED)
    last = signer.expiry(ISSUED)
    assert signer.read(token, last) == DOC_IDS[0]
    assert signer.read(token, last + timedelta(days=1)) is None
    assert signer.read(token, date(2040, 1, 1)) is None
    short = LinkSigner(KEY, months=1)
    assert short.read(short.token(DOC_IDS[0], ISSUED), date(2026, 12, 19)) is None


def test_other_key_reads_as_none(signer):
    token = signer.token(DOC_IDS[1], ISSUED)
    assert LinkSigner(bytes(32)).read(token, ISSUED) is None
    assert LinkSigner(KEY[:-1] + b"\xff").read(token, ISSUED) is None
    # the lifetime is not part of the key: a signer of another tenant's months still reads it
    assert LinkSigner(KEY, months=3).read(token, ISSUED) == DOC_IDS[1]


@pytest.mark.parametrize("doc_id", DOC_IDS[:8])
def test_any_one_character_changed_reads_as_none(signer, doc_id):
    token = signer.token(doc_id, ISSUED)
    accepted = []
    for pos in range(len(token) - 1):  # the last character: see the next test
        for ch in _others(token[pos]):
            changed = token[:pos] + ch + token[pos + 1:]
            if signer.read(changed, ISSUED) is not None:
                accepted.append(changed)
    assert accepted == []


@pytest.mark.parametrize("doc_id", DOC_IDS[:4])
def test_last_character_changed_reads_as_none(signer, doc_id):
    token = signer.token(doc_id, ISSUED)
    accepted = [c for c in _others(token[-1]) if signer.read(token[:-1] + c, ISSUED) is not None]
    assert accepted == []


def test_only_the_canonical_spelling_reads(signer):
    tokens = [signer.token(d, ISSUED) for d in DOC_IDS]
    token = next(t for t in tokens if "-" in t)
    variants = [token + "=", token + "==", token.replace("-", "+")]
    assert [v for v in variants if signer.read(v, ISSUED) is not None] == []


@pytest.mark.parametrize("garbage", ["", "x", "a" * 42, "a" * 43, "a" * 44, "a" * 200, "!!!!", "é" * 43,
                                     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "%2e%2e", "../../etc/passwd"])
def test_garbage_reads_as_none(signer, garbage):
    assert signer.read(garbage, ISSUED) is None


def test_truncated_or_extended_token_reads_as_none(signer):
    token = signer.token(DOC_IDS[2], ISSUED)
    for cut in (1, 2, 4, 10):
        assert signer.read(token[:-cut], ISSUED) is None
    for extra in ("A", "AA", "AAAA"):
        assert signer.read(token + extra, ISSUED) is None


def test_token_has_96_bits_of_mac_and_nothing_personal(signer):
    for doc_id in DOC_IDS:
        token = signer.token(doc_id, ISSUED)
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token), token  # URL-safe base64, no padding
        raw = base64.urlsafe_b64decode(token + "=")
        assert len(raw) == 32
        # the document's ledger id (a UUID derived from tenant, period and invoice number), the expiry day, the MAC
        assert raw[:16].hex() == doc_id
        assert int.from_bytes(raw[16:20], "big") == (signer.expiry(ISSUED) - date(1970, 1, 1)).days
        assert len(raw[20:]) * 8 >= 96
    # the MAC changes with every document and day: nothing shared between tokens beyond the layout
    macs = {base64.urlsafe_b64decode(signer.token(d, ISSUED) + "=")[20:] for d in DOC_IDS}
    assert len(macs) == len(DOC_IDS)


def test_no_customer_data_in_the_token(signer):
    # the invoice number, customer number or e-mail address cannot be read out of a token
    doc_id = document_key("demo", "2026-11", "INV-123456")
    token = signer.token(doc_id, ISSUED)
    raw = base64.urlsafe_b64decode(token + "=")
    for secret in (b"INV-123456", b"123456", b"demo", b"2026-11"):
        assert secret not in raw and secret.decode() not in token


def test_same_inputs_same_token_reruns_keep_the_link(signer):
    for doc_id in DOC_IDS:
        assert signer.token(doc_id, ISSUED) == signer.token(doc_id, ISSUED)
        assert LinkSigner(KEY, months=13).token(doc_id, ISSUED) == signer.token(doc_id, ISSUED)
    assert signer.token(DOC_IDS[0], ISSUED) != signer.token(DOC_IDS[0], ISSUED + timedelta(days=1))
    assert signer.token(DOC_IDS[0], ISSUED) != signer.token(DOC_IDS[1], ISSUED)


def test_wiring_signer_is_stable_for_a_data_dir(omnibill_env):
    """The key comes from the secret in settings: the same data dir gives the same link, another does not."""
    from config.settings import get_settings
    from omnibill import wiring
    from tests.conftest import reset_caches

    doc_id = DOC_IDS[3]
    first = wiring.link_signer("demo").token(doc_id, ISSUED)
    reset_caches()
    assert wiring.link_signer("demo").token(doc_id, ISSUED) == first
    assert wiring.link_signer().read(first, ISSUED) == doc_id  # the portal reads without knowing the tenant
    other = LinkSigner(get_settings().resolved_secret_key())  # the raw secret is not the link key
    assert other.read(first, ISSUED) is None
