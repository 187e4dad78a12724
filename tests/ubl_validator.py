"""The official UBL 2.1 schemas and PEPPOL BIS 3 / EN 16931 rule sets (omnibill/render/validation.py) for tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from omnibill.render.validation import EInvoiceValidator as Validator
from omnibill.render.validation import load_validator as _load
from omnibill.render.validation import missing_rule_sets

REPO = Path(__file__).resolve().parents[1]
VALIDATION_DIR = Path(os.environ.get("OMNIBILL_VALIDATION_DIR", REPO.parent / "shared" / "validation"))

__all__ = ["VALIDATION_DIR", "Validator", "load_validator"]


def load_validator() -> Validator:
    """Compile the rule sets (about 1 s); skips the test when the artefacts are absent."""
    if why := missing_rule_sets(VALIDATION_DIR):
        pytest.skip(f"{why}; set OMNIBILL_VALIDATION_DIR or fetch them (see ../shared/validation/README.md: "
                    "OpenPEPPOL BIS 3 XSLT via github.com/phax/phive-rules, OASIS UBL 2.1 XSDs)")
    return _load(VALIDATION_DIR)
