"""Can a customer be reached in a channel with the contact data we hold?"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from omnibill.model import Party

MAILBOX_PROVIDERS = {"kivra", "eboks", "digipost", "omaposti"}
_PEPPOL_ID = re.compile(r"^\d{4}:[A-Za-z0-9][A-Za-z0-9.\-_]{1,49}$")
_MOBILE_TYPES = {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}


@lru_cache(maxsize=65536)
def normalise_email(address: str | None) -> str | None:
    """The address in normal form, or None when it is not a valid address (no DNS lookups)."""
    if not address:
        return None
    try:
        return validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError:
        return None


@lru_cache(maxsize=65536)
def normalise_mobile(number: str | None, country: str) -> str | None:
    """The mobile number in E.164 for the customer's country, or None when it is not a mobile number."""
    if not number:
        return None
    try:
        parsed = phonenumbers.parse(number, country if len(country) == 2 else None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed) or phonenumbers.number_type(parsed) not in _MOBILE_TYPES:
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def why_unreachable(party: Party, channel: str) -> str | None:
    """None when the customer can be reached in the channel, else the reason in plain words."""
    if channel == "email":
        return None if normalise_email(party.email) else ("no e-mail address" if not party.email
                                                          else "e-mail address is not valid")
    if channel == "sms":
        return None if normalise_mobile(party.mobile, party.country) else (
            "no mobile number" if not party.mobile else "mobile number is not a valid mobile number")
    if channel == "einvoice":
        return _einvoice_problem(party)
    if channel == "mailbox":
        if (party.digital_mailbox or "").lower() not in MAILBOX_PROVIDERS:
            return "not registered with a digital mailbox"
        return None if party.national_id else "no national id to address the mailbox"
    if channel == "print":
        missing = [f for f in ("street", "postal_code", "city") if not getattr(party, f)]
        return f"postal address incomplete ({', '.join(missing)} missing)" if missing else None
    if channel == "push":
        return "no app registration in the extract"
    return f"unknown channel {channel}"


def _einvoice_problem(party: Party) -> str | None:
    if party.customer_type != "organisation":
        return "consumer e-invoice (bank e-invoice / Finvoice) is not supported yet"
    if not party.peppol_id:
        return "no PEPPOL id"
    return None if _PEPPOL_ID.match(party.peppol_id) else "PEPPOL id is not well formed"
