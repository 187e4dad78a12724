"""Start and stop the sandbox providers (SMTP + HTTP gateway) in background threads."""

from __future__ import annotations

import signal
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import uvicorn

from config.settings import Settings
from omnibill.sandbox import providers
from omnibill.sandbox.access_point import SandboxAccessPoint
from omnibill.sandbox.callbacks import CallbackSender
from omnibill.sandbox.faults import Faults
from omnibill.sandbox.gateway import create_gateway_app
from omnibill.sandbox.received import SandboxLedger
from omnibill.sandbox.smtp_server import BoundController, start_smtp

_START_TIMEOUT_S = 10.0


class Sandbox:
    """Local providers on loopback: SMTP on `smtp_port`, SMS + mailbox HTTP APIs on `http_port`.

    Ports may be 0 (any free port); after `start()` the attributes hold the real ports.
    """

    def __init__(self, directory: str | Path, host: str = "127.0.0.1", smtp_port: int = 2525,
                 http_port: int = 8025, api_key: str = "sandbox-key", fail_rate: float = 0.0,
                 faults: Faults | None = None, settings: Settings | None = None):
        self.directory = Path(directory)
        self.settings = settings  # the credentials the imitated providers expect (get_settings() when None)
        self.callbacks: CallbackSender | None = None
        self._access_point: SandboxAccessPoint | None = None
        self.host = host
        self.smtp_port = smtp_port
        self.http_port = http_port
        self.api_key = api_key
        self.faults = faults or Faults(fail_rate)
        self.ledger: SandboxLedger | None = None
        self._smtp: BoundController | None = None
        self._http: uvicorn.Server | None = None
        self._http_thread: threading.Thread | None = None

    @classmethod
    def from_settings(cls, settings: Settings, smtp_port: int | None = None,
                      http_port: int | None = None) -> Sandbox:
        """A sandbox on the configured host and ports (unless overridden), accepting the configured API key."""
        box = settings.sandbox
        faults = Faults(box.fail_rate, set(box.down_channels), reject_recipients=set(box.reject_recipients),
                        delay_s=box.delay_s)
        return cls(settings.sandbox_dir(), box.host, box.smtp_port if smtp_port is None else smtp_port,
                   box.http_port if http_port is None else http_port,
                   settings.gateway.api_key.get_secret_value(), faults=faults, settings=settings)

    def start(self) -> Sandbox:
        """Bind both ports and serve in background threads; returns self."""
        from config.settings import get_settings

        settings = self.settings or get_settings()
        self.ledger = SandboxLedger(self.directory)
        try:
            self._smtp = start_smtp(self.ledger, self.faults, self.host, self.smtp_port,
                                    bounce_maildir=settings.smtp.bounce_maildir or None)
            self.smtp_port = self._smtp.port
            self._access_point = SandboxAccessPoint.from_settings(settings, self.faults).start()
            self._start_http()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Shut both servers down and close the ledger."""
        if self._http is not None:
            self._http.should_exit = True
            if self._http_thread is not None:
                self._http_thread.join(_START_TIMEOUT_S)
            self._http = self._http_thread = None
        if self._smtp is not None:
            self._smtp.stop()
            self._smtp = None
        if self.callbacks is not None:
            self.callbacks.close()
            self.callbacks = None
        if self._access_point is not None:
            self._access_point.stop()
            self._access_point = None
        if self.ledger is not None:
            self.ledger.close()
            self.ledger = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def run_forever(self) -> None:
        """Serve in the foreground until Ctrl-C or SIGTERM (the CLI's `omnibill sandbox`); starts if needed."""
        stopping = threading.Event()
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, lambda *_: stopping.set())
        if self.ledger is None:  # callers may start() first to learn the real ports of port 0
            self.start()
        try:
            while not stopping.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def configure(self, settings: Settings) -> Settings:
        """A copy of `settings` whose provider addresses point at this (started) sandbox."""
        base = f"http://{self.host}:{self.http_port}"
        update = {
            "smtp": settings.smtp.model_copy(update={"host": self.host, "port": self.smtp_port}),
            "gateway": settings.gateway.model_copy(update={"sms_url": f"{base}/sms",
                                                           "mailbox_url": f"{base}/mailbox"}),
            "sandbox": settings.sandbox.model_copy(update={"host": self.host, "smtp_port": self.smtp_port,
                                                           "http_port": self.http_port}),
        }
        for group, url in self.provider_urls().items():
            update[group] = getattr(settings, group).model_copy(update={"base_url": url})
        return settings.model_copy(update=update)

    def provider_urls(self) -> dict[str, str]:
        """Settings group -> the base URL of its imitation on this sandbox (e.g. kivra -> http://…/kivra)."""
        return provider_urls(self.host, self.http_port)

    def environment(self) -> dict[str, str]:
        """OMNIBILL_* variables that point a run's adapters at this (started) sandbox."""
        return sandbox_environment(self.host, self.smtp_port, self.http_port)

    def _start_http(self) -> None:
        # Binding here (not inside uvicorn) gives the real port for port 0 and fails fast when busy.
        sock = socket.create_server((self.host, self.http_port))
        # Accepted connections inherit this; without it every keep-alive answer waits ~40 ms for a
        # delayed ACK (Nagle), which made the gateway 50x slower than the work it does.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.http_port = sock.getsockname()[1]
        from config.settings import get_settings

        self.callbacks = CallbackSender()
        app = create_gateway_app(self.ledger, self.faults, self.api_key, self.settings or get_settings(),
                                 self.callbacks)
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self._http = uvicorn.Server(config)
        self._http_thread = threading.Thread(target=self._http.run, kwargs={"sockets": [sock]},
                                             name="sandbox-http", daemon=True)
        self._http_thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not self._http.started:
            if not self._http_thread.is_alive() or time.monotonic() > deadline:
                sock.close()
                raise RuntimeError(f"sandbox HTTP gateway did not start on {self.host}:{self.http_port}")
            time.sleep(0.01)


def provider_urls(host: str, http_port: int) -> dict[str, str]:
    """Settings group -> the base URL of its imitation on a sandbox at host:http_port."""
    urls = {}
    for module in providers.modules():
        default = Settings.model_fields[module.SETTINGS].default_factory().base_url
        urls[module.SETTINGS] = f"http://{host}:{http_port}{urlsplit(default).path}"  # the path stays (/46elks/a1)
    return urls


def sandbox_environment(host: str, smtp_port: int, http_port: int) -> dict[str, str]:
    """OMNIBILL_* variables that point a run's adapters at a sandbox on these ports (in any process)."""
    base = f"http://{host}:{http_port}"
    env = {"OMNIBILL_SMTP__HOST": host, "OMNIBILL_SMTP__PORT": str(smtp_port),
           "OMNIBILL_GATEWAY__SMS_URL": f"{base}/sms", "OMNIBILL_GATEWAY__MAILBOX_URL": f"{base}/mailbox",
           "OMNIBILL_SANDBOX__HOST": host, "OMNIBILL_SANDBOX__SMTP_PORT": str(smtp_port),
           "OMNIBILL_SANDBOX__HTTP_PORT": str(http_port)}
    env.update({f"OMNIBILL_{group.upper()}__BASE_URL": url for group, url in provider_urls(host, http_port).items()})
    return env


def providers_listening(settings: Settings) -> bool:
    """Whether something accepts TCP connections on both sandbox ports."""
    box = settings.sandbox
    return all(_listening(box.host, port) for port in (box.smtp_port, box.http_port))


def ensure_sandbox(settings: Settings) -> Sandbox | None:
    """Start a sandbox when autostart is on and nothing listens on its ports; None otherwise."""
    box = settings.sandbox
    if not box.autostart:
        return None
    up = [_listening(box.host, port) for port in (box.smtp_port, box.http_port)]
    if all(up):
        return None
    if any(up):
        # Half a sandbox would leave one channel talking to an unknown server: refuse loudly.
        busy = box.smtp_port if up[0] else box.http_port
        raise RuntimeError(f"port {busy} on {box.host} is taken by something else; "
                           "free it or set OMNIBILL_SANDBOX__SMTP_PORT / OMNIBILL_SANDBOX__HTTP_PORT")
    return Sandbox.from_settings(settings).start()


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False
