"""Start the local sandbox providers for a run when the settings point at them and none listen."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from config.settings import Settings


@contextmanager
def sandbox_for_run(settings: Settings) -> Iterator[object | None]:
    """Providers for the duration of a run: the running ones, or a sandbox started here."""
    if not settings.sandbox.autostart:
        yield None
        return
    from omnibill.sandbox import ensure_sandbox

    sandbox = ensure_sandbox(settings)
    try:
        yield sandbox
    finally:
        if sandbox is not None:
            sandbox.stop()
