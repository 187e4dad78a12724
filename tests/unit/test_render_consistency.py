"""Figures every channel shows alike, and nothing cut off on the payment slip (found by trying the product)."""

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from pypdf import PdfReader
import io

from config.tenant import load_tenant
from omnibill.model import InvoiceLine
from omnibill.render import render_pdf
from omnibill.render.context import vat_breakdown
from tests.unit.render_fixtures import party, sample_invoice

TENANT = load_tenant("demo", Path(__file__).resolve().parents[2] / "config" / "tenants")


@pytest.mark.parametrize("language", ["en", "da", "sv", "fi", "nb"])
def test_fik_line_is_printed_whole_in_every_language(language):
    doc = replace(sample_invoice(), currency="DKK", payment_reference="479941320167114",
                  customer=party(country="DK", language=language, postal_code="1620", city="København"))
    text = PdfReader(io.BytesIO(render_pdf(doc, TENANT.to_sender("DK")))).pages[0].extract_text()
    assert "+71<479941320167114+81234567<" in text


def test_vat_per_rate_adds_up_to_the_erp_total_when_it_rounded_per_line():
    lines = tuple(InvoiceLine(i, "x", Decimal(1), "st", Decimal("10.02"), Decimal(25), Decimal("10.02"))
                  for i in range(1, 4))  # per line 2.505 → 2.51 ×3 = 7.53; per rate 30.06 × 25% = 7.515 → 7.52
    groups = vat_breakdown(lines, Decimal("7.53"))
    assert sum(g.vat for g in groups) == Decimal("7.53")
    assert vat_breakdown(lines)[0].vat == Decimal("7.52")
