"""Tenant rule files (`config/tenants/<tenant>.toml`), validated on load."""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from omnibill.model import CHANNELS, Sender

ChannelName = Literal["print", "email", "sms", "einvoice", "mailbox", "push"]


class TenantConfigError(ValueError):
    """A tenant rule file is missing or wrong; the message names the file and the key."""


class SenderRules(BaseModel):
    """The tenant as sender: printed on every document and in every e-invoice."""

    model_config = ConfigDict(extra="forbid")
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


class CategoryRules(BaseModel):
    """How one category of document is routed."""

    model_config = ConfigDict(extra="forbid")
    consent_category: str = Field(description="The preferences category whose opt-ins apply")
    person_chain: list[ChannelName] = Field(description="Channel preference for persons, best first")
    organisation_chain: list[ChannelName] = Field(description="Channel preference for organisations, best first")
    paper_always_allowed: bool = Field(True, description="Print is the last resort even without an opt-in")
    registration_is_consent: list[ChannelName] = Field(
        default_factory=lambda: ["einvoice", "mailbox"],
        description="Channels where the customer's own registration (PEPPOL receiver, digital mailbox) "
                    "counts as consent unless they opted out")


class TenantRules(BaseModel):
    """Everything tenant-specific: sender, routing per category, costs."""

    model_config = ConfigDict(extra="forbid")
    tenant: str
    sender: SenderRules
    senders: dict[str, SenderRules] = Field(
        default_factory=dict,
        description="Legal entity per customer country (e.g. the group's Finnish company for FI customers); "
                    "customers of other countries get `sender`")
    categories: dict[str, CategoryRules]
    costs: dict[ChannelName, Decimal] = Field(default_factory=dict, description="Cost per message, in EUR")
    default_channel_cost: Decimal = Decimal("0")

    @field_validator("categories")
    @classmethod
    def _documents_routed(cls, value: dict[str, CategoryRules]) -> dict[str, CategoryRules]:
        missing = {"invoice", "credit_note", "reminder"} - value.keys()
        if missing:
            raise ValueError(f"no routing for document types {sorted(missing)}")
        return value

    def to_sender(self, country: str | None = None) -> Sender:
        """The sender of documents to customers in a country, as a plain domain value."""
        return Sender(**self.senders.get(country or "", self.sender).model_dump())

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


__all__ = ["CHANNELS", "TenantConfigError", "TenantRules", "load_tenant"]
