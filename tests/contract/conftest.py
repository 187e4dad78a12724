"""Contract suites, one per provider adapter, against the sandbox's imitation of that provider's API.

The sandbox runs in this process on free ports; `callbacks` is a local HTTP server standing in for
our webhook endpoint, so a test can take what the sandbox pushed and hand it to the adapter's
`parse_callback`.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from channel_adapters.base import Callback
from config.settings import Settings
from omnibill.sandbox import Faults, Sandbox


class CallbackInbox:
    """Every POST the sandbox made to us, as `Callback`s; answers with `status` (set 500 to see retries)."""

    def __init__(self) -> None:
        self.received: list[Callback] = []
        self.status = 200
        self.lock = threading.Lock()
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server hook)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                host = self.headers.get("Host", "")
                with inbox.lock:
                    inbox.received.append(Callback("POST", f"http://{host}{self.path}",
                                                   {k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(inbox.status)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of_message(self, box: Sandbox, message_id: str, n: int = 1) -> list[Callback]:
        """The callbacks the sandbox posted for one of our messages (its id in the URL), in the order posted."""
        self.wait_for(0, box)
        found = [c for c in self.received if f"m={message_id}" in c.url]
        assert len(found) >= n, f"expected {n} callbacks for {message_id}, got {len(found)}"
        return found

    def wait_for(self, n: int, box: Sandbox, timeout_s: float = 10.0) -> list[Callback]:
        """The first `n` callbacks (after the sandbox's queue drained)."""
        box.callbacks.drain(timeout_s)
        with self.lock:
            assert len(self.received) >= n, f"expected {n} callbacks, got {len(self.received)}"
            return list(self.received)


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory, inbox: CallbackInbox) -> Iterator[Sandbox]:
    """The sandbox providers, started once for the session on ports the OS picks.

    Providers whose callback address is configured once (in their portal, not per message) call
    `settings.webhooks.public_url`: here, the inbox.
    """
    settings = Settings(_env_file=None)
    settings = settings.model_copy(update={"webhooks": settings.webhooks.model_copy(update={"public_url": inbox.url})})
    with Sandbox(tmp_path_factory.mktemp("sandbox"), smtp_port=0, http_port=0, settings=settings) as box:
        yield box


@pytest.fixture
def faults(sandbox: Sandbox) -> Iterator[Faults]:
    """The sandbox's fault switch, back to "no faults" after the test."""
    yield sandbox.faults
    sandbox.faults.update({"fail_rate": 0.0, "down_channels": [], "fail_keys": [], "reject_recipients": [],
                           "delay_s": 0.0})


@pytest.fixture(scope="session")
def inbox() -> Iterator[CallbackInbox]:
    """Our stand-in webhook endpoint."""
    box = CallbackInbox()
    yield box
    box.server.shutdown()


@pytest.fixture
def settings(sandbox: Sandbox, tmp_path: Path, inbox: CallbackInbox) -> Settings:
    """Settings for one test: its own data dir, every provider pointed at the sandbox, callbacks to `inbox`."""
    base = Settings(_env_file=None, data_dir=tmp_path / "var")
    configured = sandbox.configure(base)
    return configured.model_copy(update={"webhooks": configured.webhooks.model_copy(update={"public_url": inbox.url})})


@pytest.fixture
def tag() -> str:
    """A prefix unique to the test, so message ids never collide with another test's."""
    return uuid.uuid4().hex[:8]
