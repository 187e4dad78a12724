"""Can a customer be reached in a channel with the contact data we hold? Scalar and per-frame forms."""

from __future__ import annotations

import hashlib
import hmac
import re
from functools import lru_cache

import numpy as np
import pandas as pd
import phonenumbers
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

from omnibill.decide.peppol import peppol_problem
from config.channels import CHANNELS

MAILBOX_PROVIDERS = {"kivra", "eboks", "digipost", "omaposti"}
_MOBILE_TYPES = {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}
# A strict subset of what email-validator accepts and leaves unchanged: such addresses skip the
# (20 µs) library call; anything else still goes through it. tests/unit/test_decide_reach.py checks this.
_PLAIN_EMAIL = re.compile(r"^(?=.{1,254}$)(?=[^@]{1,64}@)[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*"
                          r"@(?:(?!-)[a-z0-9]+(?:-[a-z0-9]+)*\.)+[a-z]{2,24}$")
_SPECIAL_TLD = re.compile(r"\.(?:" + "|".join(map(re.escape, SPECIAL_USE_DOMAIN_NAMES)) + r")$")
POSTAL_CODE = {"SE": r"^\d{3} ?\d{2}$", "FI": r"^\d{5}$", "DK": r"^\d{4}$", "NO": r"^\d{4}$"}


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


def emails_normalised(values: pd.Series) -> pd.Series:
    """Normal forms of many addresses ("" when invalid): a vectorised fast path, the library for the rest."""
    text = values.fillna("").astype(str)
    plain = text.str.match(_PLAIN_EMAIL) & ~text.str.contains(_SPECIAL_TLD)
    out = text.where(plain, "")
    rest = text[~plain & (text != "")]
    if len(rest):
        unique = rest.unique()
        out[rest.index] = rest.map(dict(zip(unique, (normalise_email(v) or "" for v in unique))))
    return out


def _nordic_patterns() -> dict[str, tuple[str, re.Pattern, re.Pattern]]:
    """Per Nordic country: (calling code, mobile pattern, patterns of types phonenumbers checks before mobile)."""
    found = {}
    for region in ("SE", "FI", "DK", "NO"):
        meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
        special = [d.national_number_pattern for d in (meta.premium_rate, meta.toll_free, meta.shared_cost, meta.voip,
                   meta.personal_number, meta.pager, meta.uan, meta.voicemail) if d and d.national_number_pattern]
        mobile = f"(?=(?:{meta.general_desc.national_number_pattern})$)(?:{meta.mobile.national_number_pattern})$"
        found[region] = (str(meta.country_code), re.compile(mobile), re.compile(f"(?:{'|'.join(special)})$"))
    return found


_NORDIC = _nordic_patterns()
_CODE_REGION = {code: region for region, (code, _, _) in _NORDIC.items()}
_INTL = re.compile(r"^\+(46|358|45|47)([1-9]\d{4,13})$")
_TRUNK = {"SE": re.compile(r"^0([1-9]\d{4,12})$"), "FI": re.compile(r"^0([1-9]\d{4,12})$"),
          "DK": re.compile(r"^([2-9]\d{7})$"), "NO": re.compile(r"^([2-9]\d{7})$")}


def _fast_mobile(number: str, country: str) -> str | None:
    """E.164 for plain Nordic numbers, "" when such a number is not a mobile, None when the library must decide.

    Same answer as `normalise_mobile` (tests/unit/test_decide_reach.py checks it), at a fraction of the cost.
    """
    compact = number.replace(" ", "").replace("-", "")
    intl = _INTL.match(compact)
    if intl:
        region, national = _CODE_REGION[intl.group(1)], intl.group(2)
    elif country in _TRUNK and (national_match := _TRUNK[country].match(compact)):
        region, national = country, national_match.group(1)
    else:
        return None
    code, mobile, special = _NORDIC[region]
    return f"+{code}{national}" if mobile.match(national) and not special.match(national) else ""


def _fast_mobiles(compact: pd.Series, countries: pd.Series) -> pd.Series:
    """`_fast_mobile` over a whole column with pandas' regex kernels (None where the library must decide)."""
    out = pd.Series(None, index=compact.index, dtype=object)
    for region, (code, _, _) in _NORDIC.items():
        meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
        intl = compact.str.match(rf"^\+{code}[1-9]\d{{4,13}}$")
        trunk = (countries == region) & compact.str.match(_TRUNK[region].pattern)
        national = compact.str.slice(len(code) + 1).where(intl, compact.str.slice(1 if region in ("SE", "FI") else 0))
        mine = intl | trunk
        if not mine.any():
            continue
        nat = national[mine]
        special = [d.national_number_pattern for d in (meta.premium_rate, meta.toll_free, meta.shared_cost, meta.voip,
                   meta.personal_number, meta.pager, meta.uan, meta.voicemail) if d and d.national_number_pattern]
        ok = (nat.str.fullmatch(meta.general_desc.national_number_pattern)
              & nat.str.fullmatch(meta.mobile.national_number_pattern) & ~nat.str.fullmatch("|".join(special)))
        out[mine] = np.where(ok, f"+{code}" + nat, "")
    return out


def mobiles_normalised(values: pd.Series, countries: pd.Series) -> pd.Series:
    """E.164 forms of many mobile numbers ("" when not a mobile): plain Nordic numbers by regex over the
    column, the rest parsed by phonenumbers once per distinct (number, country)."""
    text = values.fillna("").astype(str)
    countries = countries.fillna("").astype(str)
    out = _fast_mobiles(text.str.replace(r"[ -]", "", regex=True), countries)
    rest = out.isna() & (text != "")
    out = out.fillna("")
    if rest.any():
        pairs = pd.MultiIndex.from_arrays([text[rest], countries[rest]])
        found = {pair: normalise_mobile(*pair) or "" for pair in pairs.unique()}
        out[rest] = [found[p] for p in pairs]
    return out


def address_hash(key: bytes, channel: str, address: str) -> str:
    """A keyed hash (HMAC-SHA256) of a contact address: bounces are remembered without keeping the address.

    `key` is the tenant's address key, derived from the secret in settings: nobody without the
    secret can test whether an address is in the suppression list.
    """
    return hmac.new(key, f"{channel}\x1f{address}".encode(), hashlib.sha256).hexdigest()[:32]


def reach_frame(customers: pd.DataFrame, hash_key: bytes) -> pd.DataFrame:
    """Per customer and channel: `why_<c>` ("" when reachable, else a problem code) and `hash_<c>`."""
    c = customers.fillna({k: "" for k in customers.columns if customers[k].dtype == object})
    out = pd.DataFrame(index=c.index)
    email = emails_normalised(c["email"])
    out["why_email"] = np.where(c["email"] == "", "no_email", np.where(email == "", "bad_email", ""))
    mobile = mobiles_normalised(c["mobile"], c["country"])
    out["why_sms"] = np.where(c["mobile"] == "", "no_mobile", np.where(mobile == "", "bad_mobile", ""))
    out["why_einvoice"] = _einvoice(c)
    out["why_mailbox"] = _mailbox(c)
    out["why_print"] = _postal(c)
    out["why_push"] = "no_app"
    street = (c["street"].str.lower().str.strip() + "|" + c["postal_code"].str.replace(" ", "") + "|"
              + c["city"].str.lower().str.strip())
    einvoice = c["peppol_id"].where(c["peppol_id"] != "", _col(c, "einvoice_address"))
    addresses = {"email": email.str.lower(), "sms": mobile, "einvoice": einvoice,
                 "mailbox": (c["digital_mailbox"].str.lower() + ":" + c["national_id"]).where(
                     c["digital_mailbox"] != "", ""), "print": street.where(out["why_print"] == "", ""),
                 "push": pd.Series("", index=c.index)}  # no app registrations in the extract: nothing to remember
    for channel in CHANNELS:
        out[f"hash_{channel}"] = hashes(hash_key, channel, pd.Series(addresses[channel], index=c.index))
    return out


def hashes(hash_key: bytes, channel: str, addresses: pd.Series) -> np.ndarray:
    """Address hashes of many addresses ("" for no address), each distinct address hashed once."""
    codes, uniques = pd.factorize(addresses.fillna(""))
    table = [address_hash(hash_key, channel, str(u)) if u else "" for u in uniques] + [""]
    return np.array(table, dtype=object)[codes]


def _einvoice(c: pd.DataFrame) -> np.ndarray:
    person = c["customer_type"] != "organisation"
    unique = c.loc[~person & (c["peppol_id"] != ""), "peppol_id"].unique()
    problems = {v: peppol_problem(v) or "" for v in unique}
    well = c["peppol_id"].map(problems).astype(object).fillna("")
    # Consumers: Finvoice to the bank e-invoice address (Finland only), which needs the operator too.
    consumer = np.where(c["country"] != "FI", "consumer_einvoice",
                        np.where((_col(c, "einvoice_address") == "") | (_col(c, "einvoice_operator") == ""),
                                 "no_einvoice_address", ""))
    return np.where(person, consumer, np.where(c["peppol_id"] == "", "no_peppol", well))


def _col(c: pd.DataFrame, name: str) -> pd.Series:
    return c[name].fillna("") if name in c else pd.Series("", index=c.index)


def _mailbox(c: pd.DataFrame) -> np.ndarray:
    provider = c["digital_mailbox"].str.lower()
    known = c["mailbox_registered"] if "mailbox_registered" in c else pd.Series(None, index=c.index, dtype=object)
    return np.select([~provider.isin(MAILBOX_PROVIDERS), c["national_id"] == "", known.eq(False)],
                     ["no_mailbox", "no_mailbox_id", "mailbox_user_unknown"], "")


def _postal(c: pd.DataFrame) -> pd.Series:
    missing = pd.Series("", index=c.index)
    for field in ("street", "postal_code", "city"):
        missing = missing.where(c[field] != "", missing + "," + field)
    why = np.where(missing != "", "address_missing:" + missing.str.lstrip(","), "")
    bad = pd.Series(False, index=c.index)
    for country, pattern in POSTAL_CODE.items():
        mine = c["country"] == country
        bad |= mine & (c["postal_code"] != "") & ~c["postal_code"].str.match(pattern)
    return pd.Series(np.where((why == "") & bad, "bad_postal_code", why), index=c.index)
