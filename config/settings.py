"""Validated runtime settings: one model per concern, all overridable by OMNIBILL_* variables."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from config.providers import (DigipostSettings, EboksSettings, ElksSettings, KivraSettings, TwilioSettings,
                              WebhookSettings)

REPO_ROOT = Path(__file__).resolve().parent.parent
SANDBOX_HOST, SANDBOX_SMTP_PORT, SANDBOX_HTTP_PORT = "127.0.0.1", 2525, 8025
PROVIDER_GROUPS = ("kivra", "digipost", "eboks", "elks", "twilio")


class SmtpSettings(BaseModel):
    """Where e-mail is delivered (the sandbox SMTP server by default)."""

    host: str = Field("127.0.0.1", description="SMTP server host")
    port: int = Field(2525, description="SMTP server port")
    username: str | None = Field(None, description="SMTP user, when the server needs AUTH")
    password: SecretStr | None = Field(None, description="SMTP password")
    starttls: bool = Field(False, description="Upgrade the connection with STARTTLS")
    timeout_s: float = Field(10.0, description="Socket timeout per SMTP connection")
    sender: str = Field("invoices@demo.omnibill.test", description="From address (the envelope sender too when "
                                                                  "bounce_address is empty)")
    bounce_address: str = Field("bounces@bounce.demo.omnibill.test",
                                description="VERP base of the envelope sender: each message goes out from "
                                            "<local>+<message id>@<domain>, so a bounce names the message; "
                                            "empty = envelope sender is `sender`, bounces cannot be matched")
    bounce_maildir: str = Field("", description="Maildir where bounces (RFC 3464 DSNs) to bounce_address are "
                                                "delivered and read from; empty = <data_dir>/bounces")


class GatewaySettings(BaseModel):
    """HTTP providers: the SMS gateway and the digital-mailbox API (one sandbox serves both)."""

    sms_url: str = Field("http://127.0.0.1:8025/sms", description="Base URL of the SMS gateway")
    mailbox_url: str = Field("http://127.0.0.1:8025/mailbox", description="Base URL of the mailbox API")
    api_key: SecretStr = Field(SecretStr("sandbox-key"), description="Bearer token for the HTTP providers")
    timeout_s: float = Field(10.0, description="Per-request timeout")


class DropSettings(BaseModel):
    """File drops: print house (PDF batches + manifest) and e-invoice access point (UBL files)."""

    print_url: str = Field("", description="Folder or s3:// URL for print batches; default <data_dir>/drops/print")
    einvoice_url: str = Field("", description="Folder or s3:// URL for e-invoices; default <data_dir>/drops/einvoice")
    einvoice_responses_url: str = Field(
        "", description="Folder or s3:// URL where the access point leaves its responses (PEPPOL Message Level "
                        "Response / Invoice Response, one XML file each); empty = `responses/` inside the e-invoice drop")


class S3Settings(BaseModel):
    """S3 API client settings, used for every s3:// URL (extract, document store, drops)."""

    endpoint_url: str | None = Field(None, description="S3 endpoint, e.g. http://127.0.0.1:9000 for a local one")
    region: str = Field("eu-north-1", description="S3 region")
    access_key_id: SecretStr | None = Field(None, description="S3 access key id")
    secret_access_key: SecretStr | None = Field(None, description="S3 secret key")


class SandboxSettings(BaseModel):
    """The local providers started for a run when nothing listens on their ports."""

    autostart: bool = Field(True, description="Start the sandbox providers for a run when none are listening")
    host: str = Field("127.0.0.1", description="Address the sandbox providers bind to")
    smtp_port: int = Field(2525, description="Sandbox SMTP port")
    http_port: int = Field(8025, description="Sandbox HTTP gateway port (SMS + mailbox)")
    fail_rate: float = Field(0.0, ge=0, le=1, description="Share of requests the sandbox fails transiently (451/503)")
    down_channels: list[str] = Field(default_factory=list,
                                     description="Channels (email, sms, mailbox) whose sandbox provider answers 503 to all")
    reject_recipients: list[str] = Field(default_factory=list,
                                         description="Recipients (address, E.164 number, national id) refused permanently")
    delay_s: float = Field(0.0, ge=0, description="Seconds the sandbox waits before every answer (slow provider)")


class PortalSettings(BaseModel):
    """The recipients' web app (`omnibill portal`): documents behind their links, choices, unsubscribe."""

    host: str = Field("127.0.0.1", description="Address the portal binds to")
    port: int = Field(8030, description="Port of the portal")
    workers: int = Field(1, ge=1, description="uvicorn worker processes")
    rate_limit: str = Field("60/minute", description="Requests per client address on the link endpoints "
                                                      "(limits library notation, e.g. 60/minute)")
    rate_limit_storage: str = Field("memory://", description="Where the rate limiter counts: memory:// (one "
                                                             "process) or redis://host:6379 (several workers)")
    trust_forwarded_for: bool = Field(False, description="Take the client address from X-Forwarded-For "
                                                          "(behind a reverse proxy you run)")


class ProviderLimit(BaseModel):
    """How hard one provider may be driven: batches in flight and messages per second."""

    concurrency: int = Field(4, ge=1, description="Dispatch batches sent to this provider at the same time")
    rate_per_s: float = Field(0.0, ge=0, description="Messages per second to this provider; 0 = unlimited")
    connections: int = Field(4, ge=1, description="Connections one dispatch batch uses at once (SMTP sessions, HTTP "
                                                  "requests in flight); a provider sees up to concurrency x this")
    breaker_probe: int = Field(20, ge=0, description="HTTP APIs (sms, mailbox): stop a batch when a slice of this "
                                                     "many messages all failed transiently; 0 = never")


class ProviderLimits(BaseModel):
    """One limit per channel's provider (same defaults for all: a real contract sets its own)."""

    email: ProviderLimit = Field(default_factory=ProviderLimit, description="SMTP relay")
    sms: ProviderLimit = Field(default_factory=ProviderLimit, description="SMS gateway")
    mailbox: ProviderLimit = Field(default_factory=ProviderLimit, description="Digital mailbox API")
    einvoice: ProviderLimit = Field(default_factory=ProviderLimit, description="E-invoice access point drop")
    print: ProviderLimit = Field(default_factory=ProviderLimit, description="Print house drop")

    def of(self, channel: str) -> ProviderLimit:
        """The limit of a channel's provider (defaults for a channel without one)."""
        return getattr(self, channel, None) or ProviderLimit()


class Settings(BaseSettings):
    """All omnibill settings; environment variables OMNIBILL_<FIELD> or OMNIBILL_<GROUP>__<FIELD>."""

    model_config = SettingsConfigDict(env_prefix="OMNIBILL_", env_nested_delimiter="__", env_file=".env",
                                      extra="ignore")

    data_dir: Path = Field(REPO_ROOT / "var", description="Ledger file, document store, drops and sandbox data")
    database_url: str = Field("", description="SQLAlchemy URL of the ledger; default sqlite:///<data_dir>/omnibill.sqlite")
    document_store_url: str = Field("", description="Folder or s3:// URL for rendered documents; default <data_dir>/documents")
    archive_url: str = Field("", description="Folder or s3:// URL of the archive: every sent document as PDF/A-3b, kept "
                                              "for the tenant's archive_years (S3 Object Lock when the bucket has it); "
                                              "default <data_dir>/archive")
    tenants_dir: Path = Field(REPO_ROOT / "config" / "tenants", description="Folder of tenant rule files (<tenant>.toml)")
    validation_dir: Path = Field(REPO_ROOT.parent / "shared" / "validation",
                                 description="The official UBL 2.1 schemas and PEPPOL BIS 3 / EN 16931 rule sets "
                                             "(ubl-2.1/, peppol-bis-3/): the proof validates e-invoices with them")
    batch_size: int = Field(1000, ge=1, description="Messages per batch: one Prefect task per stage and batch")
    extract_partition_customers: int = Field(
        5000, ge=1, description="An extract of more customers is split by customer into partitions on disk, each "
                                "validated and stored on its own, so the extract's memory does not grow with it")
    render_workers: int = Field(0, ge=0, description="Processes for rendering; 0 = one per core (with a Dask "
                                                     "task runner: 1, the Dask workers are the processes)")
    task_runner: str = Field(
        "threads", pattern=r"^(threads|(tcp|tls)://.+)$",
        description="Where a run's tasks run: `threads` (in the run's own process, 6 at a time), or a Dask "
                    "scheduler's address (tcp://host:8786) whose workers, on any machine, render and send the batches")
    dispatch_retries: int = Field(3, ge=0, description="Prefect retries of a dispatch batch on transient errors")
    dispatch_retry_delay_s: float = Field(1.0, ge=0, description="Base delay of the exponential retry backoff")
    dispatch_lease_s: float = Field(
        300.0, gt=0, description="How long a dispatcher's claim on a chunk of messages holds; a message still "
                                 "`sending` after that (its dispatcher died) is resent with the same idempotency key")
    run_lease_s: float = Field(
        120.0, gt=0, description="How long a run holds its tenant and period without a heartbeat; a run whose "
                                 "process died frees them after this")
    now: datetime | None = Field(
        None, description="Pretend it is this moment (ISO 8601 with offset) for quiet hours and scheduled "
                          "messages: for rehearsals and tests; empty = the real clock")
    secret_key: SecretStr | None = Field(
        None, description="Secret for keyed hashes of suppressed addresses and for signing document links; "
                          "with the SQLite default a random key is made once and kept in <data_dir>/secret.key; "
                          "required with a shared (PostgreSQL) ledger")
    limits: ProviderLimits = Field(
        default_factory=ProviderLimits,
        description="Per-channel provider limits, e.g. OMNIBILL_LIMITS__SMS__RATE_PER_S=50; enforced by Prefect "
                    "global concurrency limits `provider-<channel>` (made by `omnibill limits setup`) and in the adapter")
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    drops: DropSettings = Field(default_factory=DropSettings)
    s3: S3Settings = Field(default_factory=S3Settings)
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)
    portal: PortalSettings = Field(default_factory=PortalSettings)
    kivra: KivraSettings = Field(default_factory=KivraSettings)
    digipost: DigipostSettings = Field(default_factory=DigipostSettings)
    eboks: EboksSettings = Field(default_factory=EboksSettings)
    elks: ElksSettings = Field(default_factory=ElksSettings)
    twilio: TwilioSettings = Field(default_factory=TwilioSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)

    @model_validator(mode="after")
    def _defaults_follow_the_sandbox(self) -> Settings:
        """Providers left at their defaults (the sandbox on 127.0.0.1:2525/8025) follow the sandbox's ports, so
        `OMNIBILL_SANDBOX__HTTP_PORT` alone moves the sandbox and everything that talks to it."""
        box, default_http = self.sandbox, f"http://{SANDBOX_HOST}:{SANDBOX_HTTP_PORT}"
        there = f"http://{box.host}:{box.http_port}"
        if there != default_http:
            for group in PROVIDER_GROUPS:
                settings = getattr(self, group)
                if settings.base_url.startswith(default_http + "/"):
                    setattr(self, group, settings.model_copy(
                        update={"base_url": there + settings.base_url.removeprefix(default_http)}))
            self.gateway = self.gateway.model_copy(update={
                k: there + v.removeprefix(default_http) for k, v in
                (("sms_url", self.gateway.sms_url), ("mailbox_url", self.gateway.mailbox_url))
                if v.startswith(default_http + "/")})
        if (self.smtp.host, self.smtp.port) == (SANDBOX_HOST, SANDBOX_SMTP_PORT) and \
                (box.host, box.smtp_port) != (SANDBOX_HOST, SANDBOX_SMTP_PORT):
            self.smtp = self.smtp.model_copy(update={"host": box.host, "port": box.smtp_port})
        return self

    @field_validator("now")
    @classmethod
    def _pretend_moment_in_utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("OMNIBILL_NOW needs a UTC offset, e.g. 2026-11-19T07:05:00+00:00")
        return value.astimezone(timezone.utc) if value is not None else None

    def resolved_database_url(self) -> str:
        """The ledger URL, defaulting to a SQLite file in the data dir."""
        return self.database_url or f"sqlite:///{self.data_dir / 'omnibill.sqlite'}"

    def resolved_store_url(self) -> str:
        """The document store location."""
        return self.document_store_url or str(self.data_dir / "documents")

    def resolved_archive_url(self) -> str:
        """The archive store location."""
        return self.archive_url or str(self.data_dir / "archive")

    def resolved_print_url(self) -> str:
        """The print-house drop location."""
        return self.drops.print_url or str(self.data_dir / "drops" / "print")

    def resolved_einvoice_url(self) -> str:
        """The e-invoice access-point drop location."""
        return self.drops.einvoice_url or str(self.data_dir / "drops" / "einvoice")

    def resolved_secret_key(self) -> bytes:
        """The secret: from settings, or made once (random, 256 bits) and kept in the data dir, readable by its owner only."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        if not self.resolved_database_url().startswith("sqlite"):
            # Machines sharing a ledger must hash addresses and sign links alike: a file per machine would not.
            raise ValueError("OMNIBILL_SECRET_KEY is not set: with a shared (non-SQLite) ledger every machine "
                             "needs the same secret, from your secret store")
        path = self.data_dir / "secret.key"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as out:
                    out.write(secrets.token_hex(32) + "\n")
            except FileExistsError:  # another process made it first: use theirs
                pass
        for _ in range(100):  # a process that just made the file may still be writing it
            if key := path.read_text().strip():
                return key.encode()
            time.sleep(0.01)
        raise RuntimeError(f"{path} is empty: delete it or set OMNIBILL_SECRET_KEY")

    def derived_key(self, purpose: str) -> bytes:
        """A key for one purpose (address hashes, links, webhook URLs), HMAC-derived from the secret."""
        return hmac.new(self.resolved_secret_key(), purpose.encode(), hashlib.sha256).digest()

    def sandbox_dir(self) -> Path:
        """Where the sandbox providers keep what they received."""
        return self.data_dir / "sandbox"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
