"""PEPPOL participant ids (`scheme:id`): well formed per ICD scheme, with check digits where known."""

from __future__ import annotations

import re

from stdnum import ean
from stdnum.dk import cvr
from stdnum.fi import ytunnus
from stdnum.no import orgnr as no_orgnr
from stdnum.se import orgnr as se_orgnr

_FORM = re.compile(r"^(\d{4}):([A-Za-z0-9][A-Za-z0-9.\-_]{0,49})$")
# Schemes with a national number we can check fully; other ICD codes of the PEPPOL code list are
# accepted by form only (their rules are not Nordic and a wrong digit is caught by the access point).
_CHECKED = {
    "0007": se_orgnr.is_valid,
    "0037": lambda v: ytunnus.is_valid(v),
    "0216": lambda v: bool(re.fullmatch(r"0037\d{8}[0-9A-Za-z]{0,5}", v)) and ytunnus.is_valid(v[4:12]),
    "0184": cvr.is_valid,
    "0192": no_orgnr.is_valid,
    "0088": lambda v: len(v) == 13 and ean.is_valid(v),
}
_KNOWN = set(_CHECKED) | {
    "0002", "0009", "0060", "0096", "0097", "0106", "0130", "0135", "0142", "0151", "0183", "0188", "0190",
    "0191", "0193", "0195", "0196", "0198", "0199", "0200", "0201", "0202", "0204", "0208", "0209", "0210",
    "0211", "0212", "0213", "0215", "0218", "0221", "0230", "9901", "9910", "9913", "9914", "9915", "9918",
    "9919", "9920", "9922", "9923", "9924", "9925", "9926", "9927", "9928", "9929", "9930", "9931", "9932",
    "9933", "9934", "9935", "9936", "9937", "9938", "9939", "9940", "9941", "9942", "9943", "9944", "9945",
    "9946", "9947", "9948", "9949", "9950", "9951", "9952", "9953", "9957", "9959"}


def peppol_problem(value: str | None) -> str | None:
    """None when the id is well formed for its scheme, else a problem code."""
    if not value:
        return "no_peppol"
    match = _FORM.match(value.strip())
    if not match:
        return "bad_peppol"
    scheme, ident = match.groups()
    if scheme not in _KNOWN:
        return "unknown_peppol_scheme"
    check = _CHECKED.get(scheme)
    return "bad_peppol" if check and not check(ident) else None
