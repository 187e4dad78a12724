"""Settings of each real provider's API: base URL and credentials.

The defaults point at the sandbox (`omnibill sandbox`, port 8025), which imitates each provider's
published API under its own path prefix; pointing `base_url` at the provider and setting its
credentials (OMNIBILL_<PROVIDER>__<FIELD>) is all it takes to talk to the real one.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr

SANDBOX_HTTP = "http://127.0.0.1:8025"


class KivraSettings(BaseModel):
    """Kivra tenant API (digital mailbox, Sweden)."""

    base_url: str = Field(f"{SANDBOX_HTTP}/kivra", description="Kivra API base URL, e.g. https://sandbox-api.kivra.com")
    client_id: str = Field("sandbox-client", description="OAuth2 client id")
    client_secret: SecretStr = Field(SecretStr("sandbox-secret"), description="OAuth2 client secret")
    tenant_key: str = Field("sandbox-tenant", description="The tenant key Kivra gave the sender")
    timeout_s: float = Field(10.0, description="Per-request timeout")
    webhook_secret: SecretStr = Field(
        SecretStr("c2FuZGJveC1raXZyYS13ZWJob29rLXNlY3JldC0zMmI="),
        description="The base64 secret Kivra returned when our webhook definition was created "
                    "(POST /v2/webhooks/payments); it signs payment and content webhooks")
    webhook_tolerance_s: int = Field(300, description="How old (or how far ahead) a webhook's signed timestamp "
                                                      "may be before it is refused as a replay")
    usermatch_chunk: int = Field(50_000, description="National ids per usermatch request (Kivra takes up to 10 MB)")


class DigipostSettings(BaseModel):
    """Digipost API (digital mailbox with print fallback, Norway)."""

    base_url: str = Field(f"{SANDBOX_HTTP}/digipost", description="Digipost API base URL, e.g. https://api.digipost.no")
    broker_id: str = Field("1000", description="The sender's (or broker's) Digipost id, X-Digipost-UserId")
    private_key_path: str = Field("", description="PEM private key that signs requests; empty = a sandbox key "
                                                  "made once in <data_dir>")
    timeout_s: float = Field(10.0, description="Per-request timeout")
    return_name: str = Field("", description="Name on the return address of printed letters; empty = the "
                                             "message's sender_name")
    return_address: str = Field("Postboks 1", description="Street line of the return address of printed letters")
    return_postal_code: str = Field("0001", description="Postal code of the return address of printed letters")
    return_city: str = Field("Oslo", description="City of the return address of printed letters")
    events_lookback_h: float = Field(24.0, description="How far back the first poll of document events reaches")


class EboksSettings(BaseModel):
    """A second Nordic mailbox (e-Boks, Denmark / OmaPosti, Finland): see channel_adapters for which API."""

    base_url: str = Field(f"{SANDBOX_HTTP}/eboks", description="API base URL")
    client_id: str = Field("sandbox-client", description="Client / system id")
    client_secret: SecretStr = Field(SecretStr("sandbox-secret"), description="Client secret")
    timeout_s: float = Field(10.0, description="Per-request timeout")
    country: str = Field("DK", description="Country code sent with each CPR number (e-Boks addresses by id + country)")
    mandatory: bool = Field(False, description="Send as mandatory post: delivered whether or not the recipient "
                                               "subscribed to the sender (needs an agreement with e-Boks)")
    webhook_secret: SecretStr = Field(SecretStr("sandbox-webhook-secret"),
                                      description="Shared secret the status callbacks are signed with (HMAC-SHA256)")


class ElksSettings(BaseModel):
    """46elks SMS API."""

    base_url: str = Field(f"{SANDBOX_HTTP}/46elks/a1", description="46elks API base URL, https://api.46elks.com/a1")
    username: str = Field("sandbox-user", description="API username (u...)")
    password: SecretStr = Field(SecretStr("sandbox-password"), description="API password")
    sender: str = Field("Nordvatten", description="Sender name (max 11 characters) or E.164 number")
    timeout_s: float = Field(10.0, description="Per-request timeout")
    history_page_size: int = Field(100, ge=1, le=100, description="SMS per page when polling GET /sms "
                                                                  "(46elks returns at most 100)")


class TwilioSettings(BaseModel):
    """Twilio Programmable Messaging API."""

    base_url: str = Field(f"{SANDBOX_HTTP}/twilio", description="Twilio API base URL, https://api.twilio.com")
    account_sid: str = Field("AC00000000000000000000000000000000", description="Account SID")
    auth_token: SecretStr = Field(SecretStr("sandbox-auth-token"), description="Auth token (also signs callbacks)")
    sender: str = Field("+46700000000", description="From number or alphanumeric sender id")
    timeout_s: float = Field(10.0, description="Per-request timeout")
    max_price: str = Field("", description="MaxPrice per message in the account's currency (Twilio refuses "
                                            "to send dearer ones, error 30010); empty = no limit")


class WebhookSettings(BaseModel):
    """Where providers call us back: the portal app's /webhooks/<provider> endpoints."""

    public_url: str = Field("http://127.0.0.1:8030", description="Our public base URL as providers reach it")
