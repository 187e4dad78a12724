"""Plain words for the rule codes the decide stage records, and the companion notice texts."""

from __future__ import annotations


# Codes a channel can end with; the ones in USABLE mean "this channel may be used".
PHRASES: dict[str, str] = {
    "opted_in": "opted in on {}",
    "registered": "registered as {}",
    "paper_allowed": "paper is always allowed for this document type",
    "paper_required": "opted out of paper on {}, but this document must reach the customer and paper is "
                      "the last resort",
    "no_opt_in_needed": "no opt-in needed and not opted out",
    "opted_out": "opted out on {}",
    "no_opt_in": "no opt-in",
    "failed_before": "already failed permanently for this document",
    "suppressed": "address bounced or was unknown in an earlier run ({}); suppressed until it changes",
    "no_email": "no e-mail address",
    "bad_email": "e-mail address is not valid",
    "no_mobile": "no mobile number",
    "bad_mobile": "not a valid mobile number for the customer's country",
    "consumer_einvoice": "consumer e-invoice (Finvoice to the bank) is offered in Finland only",
    "no_einvoice_address": "no bank e-invoice address and operator",
    "no_peppol": "no PEPPOL id",
    "bad_peppol": "PEPPOL id is not well formed for its scheme",
    "unknown_peppol_scheme": "PEPPOL id has an unknown scheme",
    "no_mailbox": "not registered with a digital mailbox",
    "no_mailbox_id": "no national id to address the mailbox",
    "mailbox_user_unknown": "the mailbox provider does not know the customer",
    "address_missing": "postal address incomplete ({} missing)",
    "bad_postal_code": "postal code is not valid for the customer's country",
    "no_app": "no app registration",
    "do_not_contact": "do-not-contact flag set in the ERP",
    "capped": "frequency cap reached: {}",
    "scheduled": "quiet hours: scheduled for {}",
}
USABLE = ("opted_in", "registered", "paper_allowed", "paper_required", "no_opt_in_needed")
CHANNEL_WORDS = {"print": "paper", "email": "e-mail", "sms": "SMS", "einvoice": "e-invoice",
                 "mailbox": "digital mailbox", "push": "app push"}


def phrase(code: str, *details: str) -> str:
    """The plain words of one rule code, with its details filled in."""
    code, _, inline = code.partition(":")
    template = PHRASES.get(code, code.replace("_", " "))
    values = [d for d in (inline.replace(",", ", "), *details) if d] or [""]
    try:
        return template.format(*values)
    except IndexError:
        return template.format(*(values + [""] * template.count("{}")))


def describe_steps(steps: list[dict]) -> list[str]:
    """The fired rules of a decision (as stored) in plain words, one line per rule."""
    lines = []
    for step in steps:
        words = phrase(step.get("rule", ""), step.get("detail", ""))
        channel = step.get("channel") or ""
        lines.append(f"{CHANNEL_WORDS.get(channel, channel)}: {words}" if channel else words)
    return lines


NOTICES = {
    "sv": ("{sender}: Din {title} {number} finns nu i din {place}.", "Ny {title} i din {place}"),
    "fi": ("{sender}: {title} {number} on nyt {place}.", "Uusi {title}: {place}"),
    "da": ("{sender}: Din {title} {number} ligger nu i din {place}.", "Ny {title} i din {place}"),
    "nb": ("{sender}: Din {title} {number} ligger nå i din {place}.", "Ny {title} i din {place}"),
    "en": ("{sender}: Your {title} {number} is now in your {place}.", "New {title} in your {place}"),
}
_TITLES = {"sv": "faktura", "fi": "lasku", "da": "faktura", "nb": "faktura", "en": "invoice"}
_PLACES = {
    "mailbox": {"sv": "digitala brevlåda", "fi": "digitaalisessa postilaatikossasi", "da": "digitale postkasse",
                "nb": "digitale postkasse", "en": "digital mailbox"},
    "einvoice": {"sv": "internetbank", "fi": "verkkopankissasi", "da": "netbank", "nb": "nettbank",
                 "en": "online bank"},
}


def notice(language: str, sender: str, number: str, primary: str) -> tuple[str, str]:
    """(text, subject) of a companion notice: where the document is, never its content or amount."""
    lang = language if language in NOTICES else "en"
    place = _PLACES.get(primary, _PLACES["mailbox"])[lang]
    text, subject = NOTICES[lang]
    values = {"sender": sender, "title": _TITLES[lang], "number": number, "place": place}
    return text.format(**values), subject.format(**values)
