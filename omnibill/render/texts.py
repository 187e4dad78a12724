"""Fixed texts per language (sv, fi, da, nb, en) and the small number/date formatters they need."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

NBSP = "\u00a0"
FALLBACK = "en"

_SV = {
    "invoice": "Faktura", "credit_note": "Kreditnota", "reminder": "Påminnelse",
    "invoice_no": "Fakturanummer", "issue_date": "Fakturadatum", "due_date": "Förfallodatum",
    "customer_no": "Kundnummer", "period": "Period", "page": "Sida {page} av {pages}",
    "col_description": "Beskrivning", "col_quantity": "Antal", "col_unit": "Enhet",
    "col_unit_price": "À-pris", "col_vat": "Moms %", "col_amount": "Belopp",
    "vat_summary": "Momsspecifikation", "vat_basis": "Underlag", "vat": "Moms",
    "total_excl": "Summa exkl. moms", "rounding": "Öresavrundning",
    "to_pay": "Att betala", "to_credit": "Att erhålla",
    "payment": "Betalningsinformation", "reference": "OCR-nummer", "account": "Konto", "scan": "Skanna och betala",
    "org_no": "Org.nr", "vat_id": "Momsreg.nr", "phone": "Telefon", "email": "E-post", "web": "Webb",
    "consumption": "Förbrukning senaste 12 månaderna",
    "months": "jan feb mar apr maj jun jul aug sep okt nov dec",
    "greeting": "Hej {name},",
    "intro_invoice": "Här kommer din faktura från {sender}. Fakturan finns bifogad som PDF.",
    "intro_credit_note": "Här kommer en kreditnota från {sender}. Kreditnotan finns bifogad som PDF.",
    "intro_reminder": "Vi har ännu inte fått betalt för faktura {number}. "
    "Om du redan har betalat kan du bortse från denna påminnelse.",
    "pay_by": "Betala {amount} senast {due}.", "credited": "Krediterat belopp: {amount}.",
    "questions": "Frågor? Kontakta oss på {phone} eller {email}.", "regards": "Med vänliga hälsningar",
    "subject_due": "{title} {number} från {sender} – förfaller {due}", "subject": "{title} {number} från {sender}",
    "sms_pay": "{sender}: {title} {number} på {amount} förfaller {due}. {account}, OCR {ref}.",
    "sms_reminder": "{sender}: Påminnelse – faktura {number} på {amount} är obetald. "
    "Betala senast {due}. {account}, OCR {ref}.",
    "sms_credit": "{sender}: {title} {number} på {amount} har krediterats.",
    "vat_exempt": "Undantaget från moms",
}
_FI = {
    "invoice": "Lasku", "credit_note": "Hyvityslasku", "reminder": "Maksumuistutus",
    "invoice_no": "Laskun numero", "issue_date": "Laskun päivä", "due_date": "Eräpäivä",
    "customer_no": "Asiakasnumero", "period": "Laskutuskausi", "page": "Sivu {page}/{pages}",
    "col_description": "Kuvaus", "col_quantity": "Määrä", "col_unit": "Yks.",
    "col_unit_price": "À-hinta", "col_vat": "ALV %", "col_amount": "Summa",
    "vat_summary": "ALV-erittely", "vat_basis": "Veron peruste", "vat": "ALV",
    "total_excl": "Yhteensä ilman ALV", "rounding": "Pyöristys",
    "to_pay": "Maksettava", "to_credit": "Hyvitys",
    "payment": "Maksutiedot", "reference": "Viitenumero", "account": "Tilinumero", "scan": "Skannaa ja maksa",
    "org_no": "Y-tunnus", "vat_id": "ALV-numero", "phone": "Puhelin", "email": "Sähköposti", "web": "Verkkosivu",
    "consumption": "Kulutus viimeisten 12 kuukauden aikana",
    "months": "tam hel maa huh tou kes hei elo syy lok mar jou",
    "greeting": "Hei {name},",
    "intro_invoice": "Tässä on laskusi yritykseltä {sender}. Lasku on liitteenä PDF-tiedostona.",
    "intro_credit_note": "Tässä on hyvityslasku yritykseltä {sender}. Hyvityslasku on liitteenä PDF-tiedostona.",
    "intro_reminder": "Emme ole vielä saaneet maksua laskusta {number}. "
    "Jos olet jo maksanut, voit jättää tämän muistutuksen huomiotta.",
    "pay_by": "Maksa {amount} viimeistään {due}.", "credited": "Hyvityksen määrä: {amount}.",
    "questions": "Kysyttävää? Ota yhteyttä: {phone} tai {email}.", "regards": "Ystävällisin terveisin",
    "subject_due": "{title} {number} – {sender} – eräpäivä {due}", "subject": "{title} {number} – {sender}",
    "sms_pay": "{sender}: {title} {number}, {amount}, eräpäivä {due}. {account}, viite {ref}.",
    "sms_reminder": "{sender}: Muistutus – lasku {number} ({amount}) on maksamatta. "
    "Maksa viimeistään {due}. {account}, viite {ref}.",
    "sms_credit": "{sender}: {title} {number}, hyvitys {amount}.",
    "vat_exempt": "Arvonlisäverosta vapautettu",
}
_DA = {
    "invoice": "Faktura", "credit_note": "Kreditnota", "reminder": "Rykker",
    "invoice_no": "Fakturanummer", "issue_date": "Fakturadato", "due_date": "Forfaldsdato",
    "customer_no": "Kundenummer", "period": "Periode", "page": "Side {page} af {pages}",
    "col_description": "Beskrivelse", "col_quantity": "Antal", "col_unit": "Enhed",
    "col_unit_price": "Enhedspris", "col_vat": "Moms %", "col_amount": "Beløb",
    "vat_summary": "Momsspecifikation", "vat_basis": "Grundlag", "vat": "Moms",
    "total_excl": "I alt ekskl. moms", "rounding": "Afrunding",
    "to_pay": "At betale", "to_credit": "Til gode",
    "payment": "Betalingsoplysninger", "reference": "Betalingsreference", "account": "Konto", "scan": "Scan og betal",
    "org_no": "CVR-nr.", "vat_id": "Momsnr.", "phone": "Telefon", "email": "E-mail", "web": "Web",
    "consumption": "Forbrug de seneste 12 måneder",
    "months": "jan feb mar apr maj jun jul aug sep okt nov dec",
    "greeting": "Hej {name},",
    "intro_invoice": "Her er din faktura fra {sender}. Fakturaen er vedhæftet som PDF.",
    "intro_credit_note": "Her er en kreditnota fra {sender}. Kreditnotaen er vedhæftet som PDF.",
    "intro_reminder": "Vi har endnu ikke modtaget betaling for faktura {number}. "
    "Hvis du allerede har betalt, kan du se bort fra denne rykker.",
    "pay_by": "Betal {amount} senest {due}.", "credited": "Krediteret beløb: {amount}.",
    "questions": "Spørgsmål? Kontakt os på {phone} eller {email}.", "regards": "Med venlig hilsen",
    "subject_due": "{title} {number} fra {sender} – forfalder {due}", "subject": "{title} {number} fra {sender}",
    "sms_pay": "{sender}: {title} {number} på {amount} forfalder {due}. {account}, ref. {ref}.",
    "sms_reminder": "{sender}: Rykker – faktura {number} på {amount} er ubetalt. "
    "Betal senest {due}. {account}, ref. {ref}.",
    "sms_credit": "{sender}: {title} {number} på {amount} er krediteret.",
    "vat_exempt": "Momsfritaget",
}
_NB = {
    "invoice": "Faktura", "credit_note": "Kreditnota", "reminder": "Purring",
    "invoice_no": "Fakturanummer", "issue_date": "Fakturadato", "due_date": "Forfallsdato",
    "customer_no": "Kundenummer", "period": "Periode", "page": "Side {page} av {pages}",
    "col_description": "Beskrivelse", "col_quantity": "Antall", "col_unit": "Enhet",
    "col_unit_price": "Enhetspris", "col_vat": "MVA %", "col_amount": "Beløp",
    "vat_summary": "MVA-spesifikasjon", "vat_basis": "Grunnlag", "vat": "MVA",
    "total_excl": "Sum ekskl. MVA", "rounding": "Avrunding",
    "to_pay": "Å betale", "to_credit": "Til gode",
    "payment": "Betalingsinformasjon", "reference": "KID", "account": "Kontonummer", "scan": "Skann og betal",
    "org_no": "Org.nr.", "vat_id": "MVA-nr.", "phone": "Telefon", "email": "E-post", "web": "Nettside",
    "consumption": "Forbruk siste 12 måneder",
    "months": "jan feb mar apr mai jun jul aug sep okt nov des",
    "greeting": "Hei {name},",
    "intro_invoice": "Her er fakturaen din fra {sender}. Fakturaen er vedlagt som PDF.",
    "intro_credit_note": "Her er en kreditnota fra {sender}. Kreditnotaen er vedlagt som PDF.",
    "intro_reminder": "Vi har ennå ikke mottatt betaling for faktura {number}. "
    "Hvis du allerede har betalt, kan du se bort fra denne purringen.",
    "pay_by": "Betal {amount} innen {due}.", "credited": "Kreditert beløp: {amount}.",
    "questions": "Spørsmål? Kontakt oss på {phone} eller {email}.", "regards": "Med vennlig hilsen",
    "subject_due": "{title} {number} fra {sender} – forfaller {due}", "subject": "{title} {number} fra {sender}",
    "sms_pay": "{sender}: {title} {number} på {amount} forfaller {due}. {account}, KID {ref}.",
    "sms_reminder": "{sender}: Purring – faktura {number} på {amount} er ubetalt. "
    "Betal innen {due}. {account}, KID {ref}.",
    "sms_credit": "{sender}: {title} {number} på {amount} er kreditert.",
    "vat_exempt": "Fritatt for merverdiavgift",
}
_EN = {
    "invoice": "Invoice", "credit_note": "Credit note", "reminder": "Payment reminder",
    "invoice_no": "Invoice number", "issue_date": "Invoice date", "due_date": "Due date",
    "customer_no": "Customer number", "period": "Period", "page": "Page {page} of {pages}",
    "col_description": "Description", "col_quantity": "Quantity", "col_unit": "Unit",
    "col_unit_price": "Unit price", "col_vat": "VAT %", "col_amount": "Amount",
    "vat_summary": "VAT summary", "vat_basis": "Taxable amount", "vat": "VAT",
    "total_excl": "Total excl. VAT", "rounding": "Rounding",
    "to_pay": "Amount due", "to_credit": "Amount credited",
    "payment": "Payment details", "reference": "Payment reference", "account": "Account", "scan": "Scan to pay",
    "org_no": "Reg. no.", "vat_id": "VAT no.", "phone": "Phone", "email": "E-mail", "web": "Web",
    "consumption": "Consumption, last 12 months",
    "months": "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec",
    "greeting": "Hello {name},",
    "intro_invoice": "Please find attached your invoice from {sender} as a PDF.",
    "intro_credit_note": "Please find attached a credit note from {sender} as a PDF.",
    "intro_reminder": "We have not yet received payment for invoice {number}. "
    "If you have already paid, please disregard this reminder.",
    "pay_by": "Please pay {amount} by {due}.", "credited": "Amount credited: {amount}.",
    "questions": "Questions? Contact us at {phone} or {email}.", "regards": "Kind regards",
    "subject_due": "{title} {number} from {sender} – due {due}", "subject": "{title} {number} from {sender}",
    "sms_pay": "{sender}: {title} {number} of {amount} is due {due}. {account}, ref {ref}.",
    "sms_reminder": "{sender}: Reminder – invoice {number} of {amount} is unpaid. "
    "Please pay by {due}. {account}, ref {ref}.",
    "sms_credit": "{sender}: {title} {number} of {amount} has been credited.",
    "vat_exempt": "Exempt from VAT",
}
TEXTS: dict[str, dict[str, str]] = {"sv": _SV, "fi": _FI, "da": _DA, "nb": _NB, "en": _EN}

# (thousands separator, decimal mark); the home currency is written "kr"/"€", others by ISO code.
_NUMBER_STYLE = {"sv": (NBSP, ","), "fi": (NBSP, ","), "da": (".", ","), "nb": (NBSP, ","), "en": (",", ".")}
_HOME_SYMBOL = {("sv", "SEK"): "kr", ("da", "DKK"): "kr.", ("nb", "NOK"): "kr"}
_ALIASES = {"no": "nb", "nn": "nb"}
_DATE_STYLE = {"sv": "%Y-%m-%d", "fi": "{d}.{m}.%Y", "da": "%d.%m.%Y", "nb": "%d.%m.%Y", "en": "%Y-%m-%d"}


def language_of(code: str | None) -> str:
    """The supported language for a customer's language code, falling back to English."""
    code = (code or "").lower().replace("_", "-").split("-")[0]
    code = _ALIASES.get(code, code)
    return code if code in TEXTS else FALLBACK


def texts_for(language: str | None) -> dict[str, str]:
    """The fixed texts for a language (fallback English)."""
    return TEXTS[language_of(language)]


def format_number(value: Decimal, language: str, min_dec: int = 2, max_dec: int = 2, space: str = NBSP) -> str:
    """A number with the language's separators, between min_dec and max_dec decimals."""
    value = Decimal(value).quantize(Decimal(1).scaleb(-max_dec), rounding=ROUND_HALF_UP)
    sign, digits = ("-" if value < 0 else ""), f"{abs(value):f}"
    whole, _, frac = digits.partition(".")
    frac = frac.rstrip("0").ljust(min_dec, "0")
    thousands, decimal_mark = _NUMBER_STYLE[language_of(language)]
    thousands = space if thousands == NBSP else thousands
    groups = f"{int(whole):,}".replace(",", thousands)
    return f"{sign}{groups}{decimal_mark + frac if frac else ''}"


def format_money(amount: Decimal, currency: str, language: str, space: str = NBSP) -> str:
    """An amount with currency as people in that language write it: '1 234,50 kr', '€1,234.50'."""
    lang = language_of(language)
    number = format_number(amount, lang, space=space)
    if lang == "en":
        sign, number = ("-", number[1:]) if number.startswith("-") else ("", number)
        return f"{sign}€{number}" if currency == "EUR" else f"{sign}{currency}{space}{number}"
    symbol = "€" if currency == "EUR" else _HOME_SYMBOL.get((lang, currency), currency)
    return f"{number}{space}{symbol}"


def format_date(day: date, language: str) -> str:
    """A date as the language writes it (ISO for sv/en, 1.12.2026 for fi, 01.12.2026 for da/nb)."""
    pattern = _DATE_STYLE[language_of(language)].format(d=day.day, m=day.month)
    return day.strftime(pattern)


def month_label(month: str, language: str) -> str:
    """A short month name for 'YYYY-MM'."""
    names = texts_for(language)["months"].split()
    return names[int(month[5:7]) - 1] if len(month) >= 7 and month[5:7].isdigit() else month
