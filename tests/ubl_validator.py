"""The official UBL 2.1 schemas and PEPPOL BIS 3 / EN 16931 rule sets, as a reusable test validator."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

REPO = Path(__file__).resolve().parents[1]
VALIDATION_DIR = Path(os.environ.get("OMNIBILL_VALIDATION_DIR", REPO.parent / "shared" / "validation"))
SVRL = "{http://purl.oclc.org/dsdl/svrl}"


@dataclass
class Validator:
    """UBL 2.1 XSDs plus the two compiled schematron stylesheets, loaded once for the module."""

    processor: Any
    schemas: dict[str, etree.XMLSchema]
    rule_sets: dict[str, Any]

    def problems(self, xml: bytes) -> list[str]:
        """Everything fatal: schema errors and failed asserts flagged fatal, as readable lines."""
        root = etree.fromstring(xml)
        kind = etree.QName(root).localname
        schema = self.schemas[kind]
        found = [f"XSD: {err.message} (line {err.line})" for err in schema.error_log] if not schema.validate(root) else []
        node = self.processor.parse_xml(xml_text=xml.decode("utf-8"))
        for name, stylesheet in self.rule_sets.items():
            report = etree.fromstring(stylesheet.transform_to_string(xdm_node=node).encode("utf-8"))
            for failed in report.iter(f"{SVRL}failed-assert"):
                if failed.get("flag") == "fatal":
                    message = " ".join("".join(failed.find(f"{SVRL}text").itertext()).split())
                    found.append(f"{name}: {message} @ {failed.get('location')}")
        return found


def load_validator() -> Validator:
    """Compile the rule sets (about 1 s); skips the test when the artefacts are absent."""
    rules = VALIDATION_DIR / "peppol-bis-3"
    if not (rules / "PEPPOL-EN16931-UBL.xslt").is_file():
        pytest.skip(f"validation artefacts not found at {VALIDATION_DIR}; set OMNIBILL_VALIDATION_DIR or fetch them "
                    "(see ../shared/validation/README.md: OpenPEPPOL BIS 3 XSLT via github.com/phax/phive-rules, "
                    "OASIS UBL 2.1 XSDs)")
    saxonche = pytest.importorskip("saxonche", reason="pip install saxonche (the test extra)")
    processor = saxonche.PySaxonProcessor(license=False)
    xslt = processor.new_xslt30_processor()
    maindoc = VALIDATION_DIR / "ubl-2.1" / "maindoc"
    return Validator(
        processor=processor,
        schemas={kind: etree.XMLSchema(etree.parse(str(maindoc / f"UBL-{kind}-2.1.xsd"))) for kind in ("Invoice", "CreditNote")},
        rule_sets={name: xslt.compile_stylesheet(stylesheet_file=str(rules / f"{name}-UBL.xslt"))
                   for name in ("CEN-EN16931", "PEPPOL-EN16931")},
    )


