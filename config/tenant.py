"""Tenant rule files (`config/tenants/<tenant>.toml`), validated on load."""

from __future__ import annotations

import re
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Literal

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from stdnum import luhn

from config.channels import CHANNELS, PROVIDERS, Channel

ChannelName = Channel
CATEGORY_NAMES = ("invoice", "credit_note", "reminder", "marketing", "service")
ConsentCategory = Literal["invoice", "reminder", "marketing", "service"]


class TenantConfigError(ValueError):
    """A tenant rule file is missing or wrong; the message names the file and the key."""


def giro_problem(kind: str, number: str) -> str | None:
    """None when a Swedish Bankgiro (7-8 digits) or PlusGiro (2-8 digits) number is valid, else why."""
    digits = re.sub(r"[\s-]", "", number or "")
    low = 7 if kind == "bankgiro" else 2
    if not (digits.isascii() and digits.isdigit()):
        return "not digits"
    if not low <= len(digits) <= 8:
        return "length"
    return None if luhn.is_valid(digits) else "bad check digit"


class Sender(BaseModel):
    """The tenant (or its group company of one country) as the sender of documents and e-invoices."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    org_number: str
    vat_id: str
    country: str = Field(pattern=r"^[A-Z]{2}$")
    street: str
    postal_code: str
    city: str
    email: str
    phone: str
    iban: str
    bic: str
    peppol_id: str = Field(pattern=r"^\d{4}:.+$")
    bankgiro: str | None = None
    brand_colour: str = Field("#1f4e79", pattern=r"^#[0-9a-fA-F]{6}$")
    website: str = ""
    plusgiro: str | None = Field(None, description="Swedish PlusGiro account, printed for SEK when set")
    kid_mode: Literal["mod10", "mod11"] = Field("mod10", description="Norwegian KID check digit scheme")
    fik_creditor: str | None = Field(None, pattern=r"^\d{8}$", description="Danish FIK creditor number (+71 line)")
    logo: str | None = Field(None, description="PNG/JPEG logo for documents, relative to the repository root")
    document_url: str | None = Field(None, description="Link to a customer's HTML document, with {token}")
    unsubscribe_url: str | None = Field(None, description="One-click unsubscribe link for marketing, with {token}")
    preferences_url: str | None = Field(None, description="The recipient's preference center, with {token}")
    sms_max_segments: int = Field(3, ge=1, le=10, description="Longest SMS notice, in segments")

    @field_validator("bankgiro", "plusgiro")
    @classmethod
    def _giro_number(cls, value: str | None, info) -> str | None:
        problem = giro_problem(info.field_name, value) if value else None
        if problem:
            raise ValueError(f"not a valid {info.field_name} number ({problem})")
        return value


class CapRule(BaseModel):
    """At most `max` primary messages of a category per customer in a rolling window, across channels."""

    model_config = ConfigDict(extra="forbid")
    max: int = Field(ge=0, description="Messages allowed per customer in the window")
    days: int = Field(30, ge=1, description="Length of the rolling window in days")


class CompanionRule(BaseModel):
    """A short notice ("your invoice is in your mailbox") next to the primary message; never a copy."""

    model_config = ConfigDict(extra="forbid")
    channels: list[ChannelName] = Field(description="Notice channels in order of preference")
    after: list[ChannelName] = Field(description="Primary channels the notice accompanies")
    consent_category: ConsentCategory = Field(
        "service", description="Preferences category whose explicit opt-in is needed")


class CategoryRules(BaseModel):
    """How one category of document or message is routed."""

    model_config = ConfigDict(extra="forbid")
    consent_category: ConsentCategory = Field(description="The preferences category whose opt-ins apply")
    person_chain: list[ChannelName] = Field(description="Channel preference for persons, best first")
    organisation_chain: list[ChannelName] = Field(description="Channel preference for organisations, best first")
    paper_always_allowed: bool = Field(True, description="Print is the last resort even without an opt-in")
    registration_is_consent: list[ChannelName] = Field(
        default_factory=lambda: ["einvoice", "mailbox"],
        description="Channels where the customer's own registration (PEPPOL receiver, digital mailbox) "
                    "counts as consent unless they opted out")
    opt_in_required: list[ChannelName] = Field(
        default_factory=lambda: ["email", "sms", "push"],
        description="Channels used only after an explicit opt-in (or a registration listed above)")
    equal_preference: list[list[ChannelName]] = Field(
        default_factory=list, description="Groups of chain channels ranked equal: the cheapest usable one wins")
    companion: CompanionRule | None = None
    cap: CapRule | None = None
    max_per_run: int | None = Field(None, ge=1, description="Messages per customer in one run; more are capped")
    quiet_hours: list[ChannelName] = Field(
        default_factory=list, description="Channels held back during the tenant's quiet hours (scheduled, not dropped)")
    honour_do_not_contact: bool = Field(True, description="A customer's do-not-contact flag suppresses this category")

    @model_validator(mode="after")
    def _ties_in_chain(self) -> "CategoryRules":
        chains = set(self.person_chain) | set(self.organisation_chain)
        for group in self.equal_preference:
            if not set(group) <= chains:
                raise ValueError(f"equal_preference group {group} names channels outside the chains")
        return self


DocumentCategory = Literal["invoice", "credit_note", "reminder"]
DIGITAL_CHANNELS = ("email", "sms", "mailbox", "einvoice")


class PrintIfUnreadRule(BaseModel):
    """Paper for documents nobody opened: a letter when the digital message was not opened in time."""

    model_config = ConfigDict(extra="forbid")
    categories: list[DocumentCategory] = Field(
        default_factory=lambda: ["reminder"],
        description="Document categories that get a letter when their digital message was not opened in time "
                    "(invoice, credit_note, reminder; never marketing or service messages)")
    days: int = Field(7, ge=1, le=366, description="Days after the digital message was sent before its document "
                                                   "is printed when still unopened")
    channels: list[ChannelName] = Field(
        default_factory=lambda: list(DIGITAL_CHANNELS),
        description="Digital channels whose unopened messages are followed by a letter (not print)")

    @field_validator("categories", "channels")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"names a value twice: {value}")
        return value

    @field_validator("channels")
    @classmethod
    def _digital(cls, value: list[str]) -> list[str]:
        if "print" in value:
            raise ValueError("print is the letter itself, not a digital channel to follow up")
        return value


class QuietHours(BaseModel):
    """Local hours in which SMS and push are not sent; the time zone comes from the customer's country."""

    model_config = ConfigDict(extra="forbid")
    start: str = Field("21:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="Quiet from (local time)")
    end: str = Field("08:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="Quiet until (local time)")
    timezones: dict[str, str] = Field(
        default_factory=lambda: {"SE": "Europe/Stockholm", "FI": "Europe/Helsinki", "DK": "Europe/Copenhagen",
                                 "NO": "Europe/Oslo"}, description="Time zone per customer country")
    default_timezone: str = Field("Europe/Stockholm", description="Time zone of customers in other countries")

    @field_validator("timezones")
    @classmethod
    def _known_zones(cls, value: dict[str, str]) -> dict[str, str]:
        for country, zone in value.items():
            _zone(zone, f"timezones.{country}")
        return value

    @field_validator("default_timezone")
    @classmethod
    def _known_default(cls, value: str) -> str:
        return _zone(value, "default_timezone")


def _zone(name: str, key: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{key}: unknown time zone {name!r}") from exc
    return name


def default_routes() -> dict[str, dict[str, str]]:
    return {"email": {"default": "smtp"}, "sms": {"default": "46elks"},
            "mailbox": {"kivra": "kivra", "digipost": "digipost", "eboks": "eboks", "omaposti": "mailbox-gateway"},
            "einvoice": {"default": "peppol-drop"}, "print": {"default": "print-drop"}}


class TenantRules(BaseModel):
    """Everything tenant-specific: sender, routing per category, costs."""

    model_config = ConfigDict(extra="forbid")
    tenant: str
    sender: Sender
    senders: dict[str, Sender] = Field(
        default_factory=dict,
        description="Legal entity per customer country (e.g. the group's Finnish company for FI customers); "
                    "customers of other countries get `sender`")
    categories: dict[str, CategoryRules]
    costs: dict[ChannelName, Decimal] = Field(default_factory=dict, description="Cost per message, in EUR")
    quiet_hours: QuietHours = Field(default_factory=QuietHours)
    link_months: int = Field(13, ge=1, le=120, description="How long a document's link opens, in months from "
                                                           "its issue date")
    default_channel_cost: Decimal = Decimal("0")
    print_if_unread: PrintIfUnreadRule | None = Field(
        None, description="Print a document whose digital message was not opened within some days "
                          "(the print-if-unread flow); absent: never")
    release: Literal["auto", "manual"] = Field(
        "auto", description="manual: each run pauses after rendering with a proof of the real run, and sends "
                            "nothing until a person approves it (Prefect UI form, or `omnibill release`)")
    release_timeout_h: float = Field(
        72.0, gt=0, description="How long a run waits for approval; then it stops, nothing sent, still awaiting "
                                "release (approve later, then `omnibill rerun`)")
    proof_per_cell: int = Field(1, ge=1, le=20, description="Documents in the proof per channel, language, document "
                                                            "type and country")
    archive_years: int = Field(
        10, ge=1, le=100, description="How long the archive keeps each sent document (PDF/A-3b), in whole years "
                                      "after the end of the calendar year of its issue date (Swedish and Finnish "
                                      "bookkeeping law ask for 7 and 6 years after the fiscal year; 10 covers both "
                                      "with margin)")
    providers: dict[str, dict[str, str]] = Field(
        default_factory=default_routes,
        description="Provider per channel: by customer country (ISO code, or `default`); for mailbox by the "
                    "recipient's mailbox (kivra, digipost, eboks, omaposti). Channels not given keep the defaults")

    @field_validator("providers")
    @classmethod
    def _known_providers(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        routes = default_routes()
        for channel, choice in value.items():
            if channel not in PROVIDERS:
                raise ValueError(f"providers.{channel}: not a channel with providers ({', '.join(PROVIDERS)})")
            for key, provider in choice.items():
                if provider not in PROVIDERS[channel]:
                    raise ValueError(f"providers.{channel}.{key}: unknown provider {provider!r} "
                                     f"(known: {', '.join(PROVIDERS[channel])})")
            routes[channel] = (routes[channel] if channel == "mailbox" else {}) | choice
            if channel != "mailbox" and "default" not in routes[channel]:
                raise ValueError(f"providers.{channel}: give a `default` provider beside the countries")
        return routes

    def provider_for(self, channel: str, country: str = "", mailbox: str = "") -> str | None:
        """The provider a message goes through: the recipient's mailbox, or the customer's country's, or the default."""
        routes = self.providers.get(channel, {})
        return routes.get(mailbox) if channel == "mailbox" else routes.get(country, routes.get("default"))

    @field_validator("categories")
    @classmethod
    def _documents_routed(cls, value: dict[str, CategoryRules]) -> dict[str, CategoryRules]:
        missing = {"invoice", "credit_note", "reminder"} - value.keys()
        if missing:
            raise ValueError(f"no routing for document types {sorted(missing)}")
        unknown = set(value) - set(CATEGORY_NAMES)
        if unknown:
            raise ValueError(f"unknown categories {sorted(unknown)} (known: {', '.join(CATEGORY_NAMES)})")
        return value

    def to_sender(self, country: str | None = None) -> Sender:
        """The sender of documents to customers in a country (the group's logo and links unless it has its own)."""
        own = self.senders.get(country or "")
        if own is None:
            return self.sender
        shared = ("logo", "document_url", "unsubscribe_url", "preferences_url", "plusgiro", "fik_creditor")
        return own.model_copy(update={k: getattr(self.sender, k) for k in shared if not getattr(own, k)})

    def senders_by_country(self) -> dict[str, Sender]:
        """Every sender by customer country; the key "" is the default sender."""
        return {"": self.to_sender()} | {c: self.to_sender(c) for c in self.senders}

    def cost(self, channel: str) -> Decimal:
        """The configured cost of one message in a channel."""
        return self.costs.get(channel, self.default_channel_cost)  # type: ignore[call-overload]


def load_tenant(tenant: str, tenants_dir: Path) -> TenantRules:
    """Load and validate `<tenants_dir>/<tenant>.toml`; errors name the file and the key."""
    path = Path(tenants_dir) / f"{tenant}.toml"
    if not path.is_file():
        known = sorted(p.stem for p in Path(tenants_dir).glob("*.toml"))
        raise TenantConfigError(f"{path}: no rule file for tenant {tenant!r} (known: {', '.join(known) or 'none'})")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise TenantConfigError(f"{path}: not valid TOML: {exc}") from exc
    raw.setdefault("tenant", tenant)
    try:
        return TenantRules.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise TenantConfigError(f"{path}: {problems}") from exc


__all__ = ["CHANNELS", "PrintIfUnreadRule", "Sender", "TenantConfigError", "TenantRules", "giro_problem",
           "load_tenant"]
