"""The SMS: who, how much, when, which reference, in at most two GSM-7 segments."""

from __future__ import annotations

from dataclasses import replace

import pytest

from omnibill.render import render_sms, sms_segments
from omnibill.render.sms_text import is_gsm7
from tests.unit.render_fixtures import demo_sender, doc_from, party, utility_lines

CURRENCY = {"sv": "SEK", "fi": "EUR", "da": "DKK", "nb": "NOK", "en": "SEK"}


def test_swedish_invoice_sms() -> None:
    sms = render_sms(doc_from(utility_lines()), demo_sender())
    assert sms.startswith("Nordvatten Energi AB: Faktura 1234567 på 2 116,66 kr förfaller 2026-12-01. "
                          "Bankgiro 5050-1055, OCR 1234567890123. Se http://127.0.0.1:8030/d/")
    assert sms == render_sms(doc_from(utility_lines()), demo_sender())  # the link is stable


@pytest.mark.parametrize("language", list(CURRENCY))
@pytest.mark.parametrize("document_type", ["invoice", "reminder", "credit_note"])
def test_every_language_fits_two_segments(language: str, document_type: str) -> None:
    doc = doc_from(utility_lines(), customer=party(language=language), currency=CURRENCY[language],
                   document_type=document_type, sign=-1 if document_type == "credit_note" else 1)
    sms = render_sms(doc, demo_sender())
    assert "Nordvatten Energi AB" in sms and "1234567" in sms and "2" in sms
    if document_type != "credit_note":
        assert doc.payment_reference in sms
    assert sms_segments(sms) <= 2
    assert is_gsm7(sms.replace("€", "")), sms


def test_segment_counting() -> None:
    assert sms_segments("a" * 160) == 1
    assert sms_segments("a" * 161) == 2
    assert sms_segments("€" * 80) == 1 and sms_segments("€" * 81) == 2
    assert sms_segments("ä" * 160) == 1
    assert sms_segments("ł" * 70) == 1 and sms_segments("ł" * 71) == 2


def test_tenant_cap_drops_the_link_first_then_refuses() -> None:
    sender = demo_sender()
    one = sender.model_copy(update={"sms_max_segments": 1})
    doc = replace(doc_from(utility_lines()), token="T" * 43)  # a signed link token is 43 characters
    assert sms_segments(render_sms(doc, sender)) == 2 and "http://" in render_sms(doc, sender)
    short = render_sms(doc, one)
    assert "http://" not in short and sms_segments(short) == 1
    long_name = one.model_copy(update={"name": "Nordvatten Energi och Fjärrvärme i Mellersta Sverige Aktiebolag (publ)"})
    with pytest.raises(ValueError, match="segments"):
        render_sms(doc, long_name)
