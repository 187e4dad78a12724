"""What the adapters share: the pool that keeps several messages in flight, one POST's result, the HTTP
error mapping, a provider's paged feed."""

from __future__ import annotations

import re
import ssl
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import replace
from functools import lru_cache

import httpx

from channel_adapters.base import DispatchResult, OutboundMessage, PermanentError, TransientError
from config.settings import GatewaySettings
from omnibill.privacy import scrub

_RETRYABLE_4XX = (408, 429)


class ProviderLost(TransientError):
    """The provider went away after answering: the message and the rest of the batch fail transiently."""


class SendPool:
    """`connections` worker threads of one adapter, kept across batches (each may hold its own connection).

    `send` keeps at most `connections` messages in flight, counting a message from when it is handed to
    the provider until the caller takes its result and asks for the next one: a dispatcher that records
    each result before asking (providers that do not deduplicate) repeats at most that many after a crash.
    Results that arrived together are yielded one after another with nothing sent between them (all but the
    last marked `more_ready`), so such a dispatcher may record them together, before asking past the last.
    """

    def __init__(self, connections: int = 1):
        self.connections = max(1, connections)
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def send(self, messages: Sequence[OutboundMessage],
             send_one: Callable[[OutboundMessage], DispatchResult]) -> Iterator[DispatchResult]:
        """Each message's result as soon as it is known (order may differ from the batch's).

        `send_one` answers for one message; its TransientError means the provider is unreachable: raised
        when nothing was answered yet, else (and always for ProviderLost) the unanswered rest fail with it.
        Any other exception is raised once the messages in flight have been answered and yielded.
        """
        if self.connections == 1:  # one at a time in the caller's thread: no pool to pay for
            yield from _one_by_one(messages, send_one)
            return
        executor = self._start()
        waiting, flying = list(reversed(messages)), {}
        answered: set[str] = set()
        stop: BaseException | None = None
        try:
            while waiting or flying:
                while waiting and stop is None and len(flying) < self.connections:
                    message = waiting.pop()
                    flying[executor.submit(send_one, message)] = message
                done, _ = wait(flying, return_when=FIRST_COMPLETED)
                ready = []
                for future in done:
                    message = flying.pop(future)
                    if future.exception() is not None:
                        stop = stop or future.exception()
                        continue
                    answered.add(message.message_id)
                    ready.append(future.result())
                # Nothing new goes out until the caller asked past the last of these: it may write them together.
                for index, result in enumerate(ready, start=1):
                    yield replace(result, more_ready=True) if index < len(ready) else result
                if stop is not None and not flying:
                    break
        finally:
            wait(flying)  # never leave a send running behind a caller that stopped listening
        if stop is None:
            return
        if not isinstance(stop, TransientError) or (not answered and not isinstance(stop, ProviderLost)):
            raise stop
        yield from (DispatchResult(m.message_id, "failed", error=str(stop)) for m in messages
                    if m.message_id not in answered)

    def close(self) -> None:
        """Stop the worker threads."""
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=True)
                self._executor = None

    def _start(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.connections, thread_name_prefix="send")
            return self._executor


def _one_by_one(messages: Sequence[OutboundMessage],
                send_one: Callable[[OutboundMessage], DispatchResult]) -> Iterator[DispatchResult]:
    for index, message in enumerate(messages):
        try:
            result = send_one(message)
        except TransientError as exc:
            if index == 0 and not isinstance(exc, ProviderLost):
                raise
            yield from (DispatchResult(m.message_id, "failed", error=str(exc)) for m in messages[index:])
            return
        yield result


def post_one(message: OutboundMessage, post: Callable[[OutboundMessage], httpx.Response | DispatchResult],
             who: str = "provider") -> DispatchResult:
    """One POST's result: no connection raises TransientError; a read timeout or dropped connection (the
    message may have arrived) fails it transiently."""
    try:
        answer = post(message)
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise TransientError(f"{who} unreachable: {exc}") from exc
    except httpx.TransportError as exc:
        return DispatchResult(message.message_id, "failed", error=f"{type(exc).__name__}: {exc}")
    return answer if isinstance(answer, DispatchResult) else result_for(message.message_id, answer)


@lru_cache(maxsize=1)
def tls_context() -> ssl.SSLContext:
    """The TLS settings every provider client verifies with (httpx's defaults: certifi's CAs, or SSL_CERT_FILE).

    Built once per process: loading the CA bundle costs ~20 ms, and every dispatch task builds its adapters.
    """
    return httpx.create_ssl_context()


def new_client(timeout_s: float, **options) -> httpx.Client:
    """An HTTP client for a provider, on the process's one TLS context."""
    return httpx.Client(timeout=timeout_s, verify=tls_context(), **options)


def http_client(settings: GatewaySettings) -> httpx.Client:
    """A client carrying the provider's bearer key and timeout."""
    return new_client(settings.timeout_s, headers={"Authorization": f"Bearer {settings.api_key.get_secret_value()}"})


def result_for(message_id: str, response: httpx.Response) -> DispatchResult:
    """Map a provider's answer to one message: 2xx sent, 408/429/5xx transient, other 4xx permanent."""
    if response.is_success:
        return DispatchResult(message_id, "sent", provider_ref=str(_json(response).get("id") or "") or None)
    if response.status_code in (401, 403):
        # Our credentials, not this message, are wrong: stop the batch instead of failing every
        # message permanently (which would push them all down their fallback chains).
        raise PermanentError(f"provider refused our credentials: HTTP {response.status_code} {_reason(response)}")
    permanent = 400 <= response.status_code < 500 and response.status_code not in _RETRYABLE_4XX
    return DispatchResult(message_id, "failed", error=f"HTTP {response.status_code} {_reason(response)}",
                          permanent=permanent)


def _json(response: httpx.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def fetch_pages(client: httpx.Client, url: str, cursor: str, key: str, who: str) -> tuple[list[dict], str]:
    """Every item after `cursor` of a provider's paged feed (`{key: [...], "next": cursor}`), and the new cursor."""
    items: list[dict] = []
    while True:
        try:
            response = client.get(url, params={"since": cursor})
        except httpx.TransportError as exc:
            raise TransientError(f"{who} unreachable for {key}: {exc}") from exc
        if not response.is_success:
            raise TransientError(f"{who} {key}: HTTP {response.status_code} {_reason(response)}")
        body = response.json()
        page, cursor = body.get(key, []), str(body.get("next", cursor))
        if not page:
            return items, cursor
        items.extend(page)


def _reason(response: httpx.Response) -> str:
    body = _json(response)
    return str(body.get("error") or body.get("detail") or response.text[:200] or response.reason_phrase)


_SHORT_NUMBER = re.compile(r"\+?\d{6,}")


def provider_text(text: str) -> str:
    """A provider's error text for our logs and ledger, at most 200 characters: personal data masked, and the
    numbers it quotes back too, however short (a provider echoes the number we sent, national or not)."""
    return _SHORT_NUMBER.sub(lambda m: "*" * (len(m.group()) - 4) + m.group()[-4:], scrub(text))[:200]


def get_json(client: httpx.Client, url: str, params: dict | None, provider: str, what: str,
             error: Callable[[httpx.Response], str], absent_ok: bool = False) -> dict | None:
    """GET a provider's JSON resource (a status, a page of history): TransientError when the provider cannot be
    reached or answers with a failure, PermanentError when it refuses our credentials; `error` words an answer.
    With `absent_ok`, a resource the provider does not have (404) is None."""
    try:
        response = client.get(url, params=params)
    except httpx.TransportError as exc:
        raise TransientError(f"{provider} unreachable for {what}: {exc}") from exc
    if response.status_code in (401, 403):
        raise PermanentError(f"{provider} refused our credentials: {error(response)}")
    if absent_ok and response.status_code == 404:
        return None
    if not response.is_success:
        raise TransientError(f"{provider} {what}: {error(response)}")
    return response.json()
