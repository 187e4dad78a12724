"""The sandbox's imitations of real provider APIs, one module each, served by the sandbox HTTP gateway.

Each module has a FastAPI `router` whose paths are the provider's own under a prefix
(`/kivra/v2/...` imitates `https://api.kivra.com/v2/...`), and `SETTINGS`: the name of the
provider's settings group (config/providers.py) whose `base_url` the sandbox points at itself.
A router finds the shared parts on `request.app.state`: `ledger` (SandboxLedger: what was
received), `faults` (Faults), `callbacks` (CallbackSender) and `settings` (the omnibill Settings,
for the credentials the provider expects).
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

PROVIDERS = ("kivra", "digipost", "eboks", "elks", "twilio")


def modules() -> list[ModuleType]:
    """Every provider module."""
    return [import_module(f"{__name__}.{name}") for name in PROVIDERS]
