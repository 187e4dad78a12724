"""E-invoices checked against the official UBL 2.1 schemas and the PEPPOL BIS 3 / EN 16931 rule sets.

The rule sets are the compiled schematron stylesheets (XSLT 2.0, run by Saxon through `saxonche`) in
`validation_dir` (settings); without them, or without saxonche, there is no validator and the proof says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

SVRL = "{http://purl.oclc.org/dsdl/svrl}"
RULE_SETS = ("CEN-EN16931", "PEPPOL-EN16931")


@dataclass
class EInvoiceValidator:
    """UBL 2.1 XSDs plus the two compiled schematron stylesheets, loaded once."""

    processor: Any
    schemas: dict[str, etree.XMLSchema]
    rule_sets: dict[str, Any]

    def problems(self, xml: bytes) -> list[str]:
        """Everything fatal: schema errors and failed asserts flagged fatal, as readable lines."""
        root = etree.fromstring(xml)
        kind = etree.QName(root).localname
        if kind not in self.schemas:
            return [f"not a UBL Invoice or CreditNote: {kind}"]
        schema = self.schemas[kind]
        found = [f"XSD: {e.message} (line {e.line})" for e in schema.error_log] if not schema.validate(root) else []
        node = self.processor.parse_xml(xml_text=xml.decode("utf-8"))
        for name, stylesheet in self.rule_sets.items():
            report = etree.fromstring(stylesheet.transform_to_string(xdm_node=node).encode("utf-8"))
            for failed in report.iter(f"{SVRL}failed-assert"):
                if failed.get("flag") == "fatal":
                    message = " ".join("".join(failed.find(f"{SVRL}text").itertext()).split())
                    found.append(f"{name}: {message} @ {failed.get('location')}")
        return found


def missing_rule_sets(validation_dir: Path) -> str | None:
    """Why no validator can be made from this folder, or None."""
    if not (validation_dir / "peppol-bis-3" / "PEPPOL-EN16931-UBL.xslt").is_file():
        return f"no PEPPOL BIS 3 rule sets in {validation_dir} (OMNIBILL_VALIDATION_DIR)"
    try:
        import saxonche  # noqa: F401
    except ImportError:
        return "saxonche is not installed (the rule sets are XSLT 2.0)"
    return None


def load_validator(validation_dir: Path) -> EInvoiceValidator | None:
    """Compile the rule sets (about 1 s); None when they or saxonche are absent (see missing_rule_sets)."""
    if missing_rule_sets(validation_dir):
        return None
    import saxonche

    processor = saxonche.PySaxonProcessor(license=False)
    xslt = processor.new_xslt30_processor()
    maindoc = validation_dir / "ubl-2.1" / "maindoc"
    rules = validation_dir / "peppol-bis-3"
    return EInvoiceValidator(
        processor=processor,
        schemas={kind: etree.XMLSchema(etree.parse(str(maindoc / f"UBL-{kind}-2.1.xsd")))
                 for kind in ("Invoice", "CreditNote")},
        rule_sets={name: xslt.compile_stylesheet(stylesheet_file=str(rules / f"{name}-UBL.xslt")) for name in RULE_SETS})
