"""A deterministic, realistic demo ERP extract (SE, FI, DK, NO) with a few deliberately bad rows."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from faker import Faker
from stdnum import luhn
from stdnum.dk import cvr
from stdnum.fi import ytunnus
from stdnum.iso7064 import mod_97_10
from stdnum.no import fodselsnummer, orgnr

from omnibill.payments import make_reference

COUNTRIES = ("SE", "FI", "DK", "NO")
_LOCALE = {"SE": "sv_SE", "FI": "fi_FI", "DK": "da_DK", "NO": "no_NO"}
_LANGUAGE = {"SE": "sv", "FI": "fi", "DK": "da", "NO": "nb"}
_CURRENCY = {"SE": "SEK", "FI": "EUR", "DK": "DKK", "NO": "NOK"}
_VAT_TENTHS = {"SE": (250, 120, 60), "FI": (255, 140, 100), "DK": (250,), "NO": (250, 150)}
_COMPANY = {"SE": "AB", "FI": "Oy", "DK": "ApS", "NO": "AS"}
_MAILBOX = {"SE": "kivra", "FI": "omaposti", "DK": "eboks", "NO": "digipost"}
_MOBILE = {"SE": ("+467{}", "07{}", 8), "FI": ("+35840{}", "040{}", 7), "DK": ("+452{}", "2{}", 7),
           "NO": ("+474{}", "4{}", 7)}
_FI_BICS = ("NDEAFIHH", "OKOYFIHH", "DABAFIHH", "HELSFIHH", "AABAFI22")
_MONTH, _PIECE = ("mån", "kk", "md.", "mnd.", "month"), ("st", "kpl", "stk.", "stk.", "pcs")
# names and units in (sv, fi, da, nb, en), unit price range in 1/10000 with its step, milli-quantity range
_PRODUCTS = (
    (("Elenergi", "Sähköenergia", "Elforbrug", "Strøm", "Electricity"), ("kWh",) * 5, (5000, 25000, 1),
     (50_000, 900_000)),
    (("Elnät", "Sähkönsiirto", "Nettarif", "Nettleie", "Grid fee"), ("kWh",) * 5, (2000, 9000, 1), (50_000, 900_000)),
    (("Fast avgift", "Perusmaksu", "Abonnement", "Fastledd", "Fixed fee"), _MONTH, (390000, 990000, 100),
     (1000, 1000)),
    (("Fjärrvärme", "Kaukolämpö", "Fjernvarme", "Fjernvarme", "District heating"), ("MWh",) * 5,
     (6000000, 9000000, 100), (100, 3000)),
    (("Service & support", "Huolto & tuki", "Service & support", "Service & støtte", "Service & support"), _PIECE,
     (995000, 4995000, 100), (1000, 3000)),
)
_CUSTOMER_COLUMNS = ("customer_id", "customer_type", "name", "national_id", "country", "language", "email", "mobile",
                     "street", "postal_code", "city", "care_of", "peppol_id", "einvoice_address", "einvoice_operator",
                     "digital_mailbox")
BAD_KINDS = ("invalid_date", "totals_off", "unknown_customer", "duplicate_invoice_id", "bad_currency",
             "bad_document_type", "empty_customer_type", "bad_vat_rate")


def _pools(seed: int, size: int = 400) -> dict[str, dict[str, list]]:
    """Per country, pools of names, streets and places from Faker, seeded per locale."""
    pools = {}
    for offset, country in enumerate(COUNTRIES):
        fake = Faker(_LOCALE[country])
        fake.seed_instance(seed * 100 + offset)
        pools[country] = {"first": [fake.first_name() for _ in range(size)],
                          "last": [fake.last_name() for _ in range(size)],
                          "street": [fake.street_name() for _ in range(size)],
                          "place": [(fake.postcode(), fake.city()) for _ in range(size)]}
    return pools


def _check_digit(prefix: str, is_valid) -> str | None:
    """The first digit that makes `prefix + digit` valid per stdnum, or None."""
    return next((prefix + d for d in "0123456789" if is_valid(prefix + d)), None)


def _person_id(country: str, born: date, serial: int) -> str | None:
    """A valid personal identity number (None when this serial has no valid check digit)."""
    ddmmyy, yymmdd = born.strftime("%d%m%y"), born.strftime("%y%m%d")
    if country == "SE":
        body = f"{yymmdd}{serial % 1000:03d}"
        return f"{body[:6]}-{body[6:]}{luhn.calc_check_digit(body)}"
    if country == "FI":
        individual = 2 + serial % 897
        check = "0123456789ABCDEFHJKLMNPRSTUVWXY"[int(f"{ddmmyy}{individual:03d}") % 31]
        return f"{ddmmyy}-{individual:03d}{check}"
    if country == "DK":
        return f"{ddmmyy}-{serial % 4000:04d}"  # born 1900-1999: serial digit 0-3; no checksum since 2007
    body = f"{ddmmyy}{serial % 500:03d}"
    body += fodselsnummer.calc_check_digit1(body)
    body += fodselsnummer.calc_check_digit2(body)
    return body if len(body) == 11 else None


def _org_id(country: str, serial: int) -> str | None:
    """A valid organisation number, its check digit found with stdnum."""
    body = f"{serial:07d}"
    if country == "SE":
        found = _check_digit("556" + body[1:], luhn.is_valid)
        return found and f"{found[:6]}-{found[6:]}"
    if country == "FI":
        found = _check_digit(body, ytunnus.is_valid)
        return found and f"{found[:7]}-{found[7]}"
    return _check_digit(("3" + body)[:7], cvr.is_valid) if country == "DK" else _check_digit("9" + body, orgnr.is_valid)


def _national_ids(country: np.ndarray, is_org: np.ndarray, rng: np.random.Generator) -> list[str]:
    """A valid national id per customer (persons born 1940-1999)."""
    born = date(1940, 1, 1)
    days, serials = rng.integers(0, 21900, len(country)), rng.integers(1, 9_000_000, len(country))
    out = []
    for c, org, day, serial in zip(country, is_org, days.tolist(), serials.tolist()):
        found = None
        while found is None:
            found = _org_id(c, serial) if org else _person_id(c, born + timedelta(day), serial)
            serial += 1
        out.append(found)
    return out


def _ascii(text: str) -> str:
    """A name folded to lower-case ASCII for a made-up e-mail address."""
    folded = text.lower().translate(str.maketrans({"å": "a", "ä": "a", "ö": "o", "ø": "o", "æ": "ae", "ü": "u",
                                                   "é": "e", " ": "", "'": "", "-": ""}))
    return "".join(ch for ch in folded if ch.isascii() and ch.isalnum()) or "kund"


def _pick(rng: np.random.Generator, pool: list, n: int) -> list:
    """n seeded draws from a pool."""
    return [pool[i] for i in rng.integers(0, len(pool), n)]


def _party_columns(c: str, org: np.ndarray, rng: np.random.Generator, pool: dict) -> dict[str, list]:
    """Names, addresses, contact points and channels for the customers of one country."""
    n = len(org)
    first, last, last2 = _pick(rng, pool["first"], n), _pick(rng, pool["last"], n), _pick(rng, pool["last"], n)
    odd = rng.random(n)  # a few names with <, & and quotes, as real ERPs hold them
    names = [(f"{b} & {b2} {_COMPANY[c]}" if o < .05 else f'"{b}" <Nord> {_COMPANY[c]}' if o < .08 else
              f"{b} {_COMPANY[c]}") if g else (f'{a} "{b2}" {b}' if o < .02 else f"{a} {b}")
             for g, a, b, b2, o in zip(org, first, last, last2, odd)]
    places = _pick(rng, pool["place"], n)
    emails = [f"{_ascii(a)}.{_ascii(b)}{i}@example.{'org' if g else 'com'}" if r < .7 else ""
              for i, (g, a, b, r) in enumerate(zip(org, first, last, rng.random(n)))]
    numbers = rng.integers(10_000_000, 99_999_999, n)
    mobiles = [_MOBILE[c][int(r < .3)].format(str(x)[:_MOBILE[c][2]]) if r < .6 else ""
               for x, r in zip(numbers, rng.random(n))]
    mailbox = np.where(~org & (rng.random(n) < .3), _MAILBOX[c], "")
    return {"name": names, "email": emails, "mobile": mobiles, "mailbox": mailbox.tolist(),
            "street": [f"{s} {k}" for s, k in zip(_pick(rng, pool["street"], n), rng.integers(1, 120, n))],
            "postal_code": [p for p, _ in places], "city": [t for _, t in places],
            "care_of": [f"c/o {b}" if r < .03 and not g else "" for g, b, r in zip(org, last2, rng.random(n))]}


def _peppol(c: str, national_id: str, r: float) -> str:
    """A Peppol participant id from an organisation number."""
    digits = national_id.replace("-", "")
    if c == "FI":
        return f"0216:0037{digits}" if r < .3 else f"0037:{digits}"
    return {"SE": "0007:", "DK": "0184:", "NO": "0192:"}[c] + digits


def _customers(n: int, rng: np.random.Generator, pools: dict) -> pd.DataFrame:
    """The customers table: ~80 % persons, ~20 % organisations, all four countries and five languages."""
    country = rng.choice(COUNTRIES, n, p=[.35, .25, .2, .2])
    country[: min(n, 4)] = COUNTRIES[: min(n, 4)]
    org = rng.random(n) < .2
    frame = pd.DataFrame({"customer_id": [f"C{i:07d}" for i in range(1, n + 1)],
                          "customer_type": np.where(org, "organisation", "person"), "country": country})
    english = rng.random(n) < .1
    english[4:5] = True
    frame["language"] = np.where(english, "en", frame["country"].map(_LANGUAGE))
    frame["national_id"] = _national_ids(country, org, rng)
    frame["name"], frame["email"], frame["mobile"], frame["street"] = "", "", "", ""
    frame["postal_code"], frame["city"], frame["care_of"], frame["digital_mailbox"] = "", "", "", ""
    for c in COUNTRIES:
        rows = np.flatnonzero(country == c)
        for column, values in _party_columns(c, org[rows], rng, pools[c]).items():
            frame.loc[rows, "digital_mailbox" if column == "mailbox" else column] = values
    frame["peppol_id"] = [_peppol(c, nid, r) if g and r < .6 else ""
                          for c, nid, g, r in zip(country, frame["national_id"], org, rng.random(n))]
    fi_person = (country == "FI") & ~org & (rng.random(n) < .25)
    bban = rng.integers(10**13, 10**14, n).astype(str)
    frame["einvoice_address"] = [f"FI{mod_97_10.calc_check_digits(b + 'FI')}{b}" if f else ""
                                 for b, f in zip(bban, fi_person)]
    frame["einvoice_operator"] = np.where(fi_person, rng.choice(_FI_BICS, n), "")
    frame.loc[frame["einvoice_address"] != "", "digital_mailbox"] = ""
    return frame[list(_CUSTOMER_COLUMNS)]


def _half_up(numerator: np.ndarray, denominator: int) -> np.ndarray:
    """Integer division rounding half away from zero, as money is rounded."""
    return np.sign(numerator) * ((np.abs(numerator) + denominator // 2) // denominator)


def _money(cents: np.ndarray) -> list[str]:
    """Cents as decimal text with two decimals, exactly."""
    return [f"{'-' if c < 0 else ''}{abs(c) // 100}.{abs(c) % 100:02d}" for c in cents.tolist()]


def _scaled(values: np.ndarray, digits: int) -> list[str]:
    """Integers in units of 10**-digits as the shortest decimal text."""
    text = (f"{'-' if v < 0 else ''}{abs(v) // 10**digits}.{abs(v) % 10**digits:0{digits}d}" for v in values.tolist())
    return [t.rstrip("0").rstrip(".") for t in text]


def _lines(owner_country: np.ndarray, owner_language: np.ndarray, sign: np.ndarray,
           rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    """1-20 lines per document (few on most) and each line's owning document index."""
    counts = 1 + rng.binomial(19, .15, len(sign))
    owner = np.repeat(np.arange(len(sign)), counts)
    line_no = np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts) + 1
    product = rng.integers(0, len(_PRODUCTS), len(owner))
    low, high, step = (np.array([p[2][i] for p in _PRODUCTS])[product] for i in (0, 1, 2))
    price = rng.integers(low, high + 1) // step * step
    q_low, q_high = (np.array([p[3][i] for p in _PRODUCTS])[product] for i in (0, 1))
    quantity = rng.integers(q_low, q_high + 1) // 100 * 100 * sign[owner]
    amount = _half_up(quantity * price, 10**5)
    country = owner_country[owner]
    standard = rng.random(len(owner)) < .8
    rate = np.array([_VAT_TENTHS[c][0 if s else r % len(_VAT_TENTHS[c])] for c, s, r in
                     zip(country, standard, rng.integers(0, 3, len(owner)))])
    language = owner_language[owner]
    frame = pd.DataFrame({"line_no": line_no.astype(str),
                          "description": [_PRODUCTS[p][0][lang] for p, lang in zip(product, language)],
                          "quantity": _scaled(quantity, 3),
                          "unit": [_PRODUCTS[p][1][lang] for p, lang in zip(product, language)],
                          "unit_price": _scaled(price, 4), "vat_rate": _scaled(rate, 1),
                          "line_amount": _money(amount)})
    return frame.assign(_owner=owner, _amount=amount, _vat=_half_up(amount * rate, 1000)), owner


def _documents(customers: pd.DataFrame, period: str, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One invoice per customer, ~3 % extra credit notes and ~3 % reminders, with their lines."""
    n = len(customers)
    credit, remind = np.flatnonzero(rng.random(n) < .03), np.flatnonzero(rng.random(n) < .03)
    owner = np.concatenate([np.arange(n), credit, remind])
    kind = np.array(["invoice"] * n + ["credit_note"] * len(credit) + ["reminder"] * len(remind))
    order = np.argsort(owner, kind="stable")
    owner, kind = owner[order], kind[order]
    ids = [f"INV-{period.replace('-', '')}-{i:06d}" for i in range(1, len(owner) + 1)]
    country = customers["country"].to_numpy()[owner]
    language = pd.Series(customers["language"].to_numpy()[owner]).map({l: i for i, l in enumerate(
        ("sv", "fi", "da", "nb", "en"))}).to_numpy()
    lines, line_owner = _lines(country, language, np.where(kind == "credit_note", -1, 1), rng)
    excl = np.bincount(line_owner, weights=lines["_amount"], minlength=len(owner)).astype(np.int64)
    vat = np.bincount(line_owner, weights=lines["_vat"], minlength=len(owner)).astype(np.int64)
    issue = date.fromisoformat(f"{period}-01")
    currency = [_CURRENCY[c] for c in country]
    invoices = pd.DataFrame({
        "invoice_id": ids, "customer_id": customers["customer_id"].to_numpy()[owner], "document_type": kind,
        "issue_date": issue.isoformat(), "due_date": (issue + timedelta(30)).isoformat(), "currency": currency,
        "total_excl_vat": _money(excl), "vat_amount": _money(vat), "total_incl_vat": _money(excl + vat),
        "payment_reference": [make_reference(c, i) if r < .5 else ""
                              for c, i, r in zip(currency, ids, rng.random(len(ids)))],
        "period": period})
    lines.insert(0, "invoice_id", np.asarray(ids)[line_owner])
    return invoices, lines.drop(columns=["_owner", "_amount", "_vat"])


def _preferences(customers: pd.DataFrame, period: str, rng: np.random.Generator) -> pd.DataFrame:
    """0-4 consent rows per customer over the past three years, ~25 % later flipped."""
    owner = np.repeat(np.arange(len(customers)), rng.integers(0, 5, len(customers)))
    t = len(owner)
    start = np.datetime64(f"{period}-01T00:00:00")
    at = start - rng.integers(86_400, 3 * 365 * 86_400, t).astype("timedelta64[s]")
    status = rng.choice(["opt_in", "opt_out"], t, p=[.7, .3])
    frame = pd.DataFrame({"_owner": owner, "category": rng.choice(["invoice", "reminder", "marketing", "service"], t),
                          "channel": rng.choice(["print", "email", "sms", "einvoice", "mailbox", "push"], t),
                          "status": status, "_at": at})
    flip = frame[rng.random(t) < .25].copy()
    flip["status"] = np.where(flip["status"] == "opt_in", "opt_out", "opt_in")
    later = flip["_at"] + pd.to_timedelta(rng.integers(3_600, 180 * 86_400, len(flip)), unit="s")
    flip["_at"] = later.where(later < start, start - np.timedelta64(1, "s"))
    frame = pd.concat([frame, flip, _choices(customers, start, rng)], ignore_index=True)
    frame = frame.assign(_mix=rng.random(len(frame))).sort_values(["_owner", "_mix"], kind="stable")
    frame.insert(0, "customer_id", customers["customer_id"].to_numpy()[frame["_owner"]])
    frame["recorded_at"] = np.datetime_as_string(frame["_at"].to_numpy().astype("datetime64[s]")) + "Z"
    frame["source"] = rng.choice(["web", "app", "call-centre", "letter"], len(frame))
    return frame.drop(columns=["_owner", "_at", "_mix"]).reset_index(drop=True)


def _choices(customers: pd.DataFrame, start: np.datetime64, rng: np.random.Generator) -> pd.DataFrame:
    """Deliberate choices as a Nordic utility sees them: ~22 % of those with e-mail take invoices by e-mail,
    most of them reminders too; some want SMS notices (service) or marketing by e-mail."""
    n = len(customers)
    has_email, has_mobile = (customers["email"] != "").to_numpy(), (customers["mobile"] != "").to_numpy()
    draws = rng.random((4, n))
    wanted = [("invoice", "email", has_email & (draws[0] < .22)),
              ("reminder", "email", has_email & (draws[0] < .18)),
              ("service", "sms", has_mobile & (draws[1] < .20)),
              ("marketing", "email", has_email & (draws[2] < .25))]
    parts = [pd.DataFrame({"_owner": np.flatnonzero(mask), "category": category, "channel": channel,
                           "status": "opt_in"}) for category, channel, mask in wanted]
    frame = pd.concat(parts, ignore_index=True)
    frame["_at"] = start - rng.integers(86_400, 2 * 365 * 86_400, len(frame)).astype("timedelta64[s]")
    return frame


def _consumption(customers: pd.DataFrame, period: str, rng: np.random.Generator) -> pd.DataFrame:
    """Twelve months of kWh up to the period for every person, higher in winter."""
    people = customers.loc[customers["customer_type"] == "person", "customer_id"].to_numpy()
    year, month = (int(p) for p in period.split("-"))
    index = year * 12 + month - 1 - np.arange(11, -1, -1)
    months = [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in index]
    season = 1 + .5 * np.cos(2 * np.pi * (index % 12) / 12)
    kwh = rng.uniform(150, 1500, len(people))[:, None] * season[None, :]
    return pd.DataFrame({"customer_id": np.repeat(people, 12), "month": np.tile(months, len(people)),
                         "quantity": [f"{v:.1f}" for v in kwh.ravel()], "unit": "kWh"})


def _messages(customers: pd.DataFrame, period: str, rng: np.random.Generator) -> pd.DataFrame:
    """Service notices and marketing for a few per cent of the customers."""
    picked = np.flatnonzero(rng.random(len(customers)) < .08)
    service = rng.random(len(picked)) < .6
    return pd.DataFrame({
        "message_id": [f"MSG-{period.replace('-', '')}-{i:06d}" for i in range(1, len(picked) + 1)],
        "customer_id": customers["customer_id"].to_numpy()[picked],
        "category": np.where(service, "service", "marketing"),
        "subject": np.where(service, "Planned maintenance", "Save with a fixed price"),
        "body_markdown": np.where(service, f"**Planned maintenance** in {period}: short outages may occur.",
                                  "Lock your price for *12 months* — see our [offer](https://example.com/offer).")})


def _corrupt(tables: dict[str, pd.DataFrame], period: str, rng: np.random.Generator) -> tuple[int, int]:
    """Plant ~1 % bad rows of every kind; returns (bad rows, invoice rows they get quarantined)."""
    customers, invoices, lines = tables["customers"], tables["invoices"], tables["invoice_lines"]
    kinds = [BAD_KINDS[i % len(BAD_KINDS)] for i in range(max(len(BAD_KINDS), round(len(customers) * .01)))]
    gone = rng.choice(len(customers), kinds.count("empty_customer_type"), replace=False)
    customers.loc[gone, "customer_type"] = ""
    hit = invoices["customer_id"].isin(customers.loc[gone, "customer_id"])
    others = [k for k in kinds if k != "empty_customer_type"]
    targets = rng.choice(np.flatnonzero(~hit), min(len(others), int((~hit).sum())), replace=False)
    copies = []
    for kind, row in zip(others, targets):
        if kind == "duplicate_invoice_id":
            copies.append(invoices.loc[[row]])
        elif kind == "bad_vat_rate":
            lines.loc[lines.index[lines["invoice_id"] == invoices.at[row, "invoice_id"]][0], "vat_rate"] = "125"
        else:
            off_by_one = _money(np.array([_cents(invoices.at[row, "total_incl_vat"]) + 100]))[0]
            column, value = {"invalid_date": ("due_date", f"{period[:4]}-02-30"),
                             "totals_off": ("total_incl_vat", off_by_one),
                             "unknown_customer": ("customer_id", "X" + invoices.at[row, "customer_id"]),
                             "bad_currency": ("currency", "GBP"), "bad_document_type": ("document_type", "bill")}[kind]
            invoices.at[row, column] = value
    tables["invoices"] = pd.concat([invoices, *copies], ignore_index=True)
    return len(gone) + len(targets), int(hit.sum()) + len(targets)


def _cents(text: str) -> int:
    """Decimal money text as integer cents."""
    whole, _, fraction = text.lstrip("-").partition(".")
    return (-1 if text.startswith("-") else 1) * (int(whole) * 100 + int(fraction.ljust(2, "0")))


def _write(frame: pd.DataFrame, stem: Path, fmt: str) -> None:
    """One table as CSV, parquet or JSON Lines; empty values become nulls outside CSV."""
    frame = frame.astype(str)
    if fmt == "csv":
        frame.to_csv(stem.with_suffix(".csv"), index=False, lineterminator="\n")
        return
    nullable = frame.mask(frame == "")
    if fmt == "parquet":
        nullable.to_parquet(stem.with_suffix(".parquet"), index=False)
    else:
        nullable.to_json(stem.with_suffix(".jsonl"), orient="records", lines=True, force_ascii=False)


def write_demo_extract(out_dir: Path, customers: int, period: str, seed: int = 42, fmt: str = "csv") -> dict[str, int]:
    """Write a demo extract for one period; returns rows per table, `bad_rows` and `bad_invoice_rows`."""
    if fmt not in ("csv", "parquet", "jsonl"):
        raise ValueError(f"fmt must be csv, parquet or jsonl, got {fmt!r}")
    rng = np.random.default_rng(seed)
    people = _customers(customers, rng, _pools(seed))
    invoices, lines = _documents(people, period, rng)
    tables = {"customers": people, "invoices": invoices, "invoice_lines": lines,
              "preferences": _preferences(people, period, rng), "consumption": _consumption(people, period, rng),
              "messages": _messages(people, period, rng)}
    bad_rows, bad_invoice_rows = _corrupt(tables, period, rng)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        _write(frame, out_dir / name, fmt)
    return {**{name: len(frame) for name, frame in tables.items()}, "bad_rows": bad_rows,
            "bad_invoice_rows": bad_invoice_rows}
