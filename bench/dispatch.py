"""Dispatch throughput: messages/s per channel through the real adapters to the sandbox in its own process.

    python -m bench.dispatch --n 2000 --connections 1 4 8

Starts `omnibill sandbox` (and a sink for the delivery-report callbacks) as separate processes on free
loopback ports, so the providers' work does not share this process's interpreter, then sends N messages
per channel (email over SMTP, sms through 46elks, mailbox through Kivra) chunk by chunk as the dispatch
stage does, once per connection count. Prints messages/s and checks the sandbox holds each message once.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.processes import free_port, wait_listening
from channel_adapters.base import Attachment, ChannelAdapter, OutboundMessage

REPO = Path(__file__).resolve().parents[1]
PROVIDERS = {"email": "smtp", "sms": "46elks", "mailbox": "kivra"}
RECIPIENTS = {"email": "anna@example.test", "sms": "+46701234567", "mailbox": "19121212-1212"}

# A callback receiver that answers every request 204 on a kept-alive connection, and nothing else.
_SINK = """
import asyncio, sys
async def serve(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\\r\\n\\r\\n")
            size = next((int(l.split(b":")[1]) for l in head.split(b"\\r\\n") if l.lower().startswith(b"content-length")), 0)
            await reader.readexactly(size)
            writer.write(b"HTTP/1.1 204 No Content\\r\\n\\r\\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()
async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", int(sys.argv[1]))
    await server.serve_forever()
asyncio.run(main())
"""




def message(channel: str, run: str, n: int, attachment_kb: int) -> OutboundMessage:
    """Message n of a run: the channel's recipient, a text, and for e-mail and mailbox a PDF of the given size."""
    message_id = uuid.uuid5(uuid.NAMESPACE_URL, f"bench/{run}/{channel}/{n}").hex
    pdf = b"%PDF-1.4\n" + message_id.encode() + b"\n" + b"0" * (attachment_kb * 1024) + b"\n%%EOF"
    meta = {"document_type": "invoice", "amount": "123.50", "currency": "SEK", "due_date": "2026-12-31",
            "payment_reference": "426523791", "bankgiro": "123-4567", "issue_date": "2026-12-01"}
    attachments = (Attachment(f"{n}.pdf", "application/pdf", pdf),) if channel != "sms" else ()
    return OutboundMessage(message_id, channel, f"D{n}", f"I{n}", RECIPIENTS[channel], subject=f"Faktura {run}-{n}",
                           body_text=f"Your invoice {n} is due.", body_html=f"<p>Invoice <b>{n}</b></p>",
                           attachments=attachments, metadata=meta)


def send_all(adapter: ChannelAdapter, messages: list[OutboundMessage]) -> tuple[int, float]:
    """Send chunk by chunk (the adapter's max_batch, as the dispatch stage does); (sent, seconds)."""
    sent, began = 0, time.perf_counter()
    for start in range(0, len(messages), adapter.max_batch):
        sent += sum(r.status == "sent" for r in adapter.send(messages[start:start + adapter.max_batch]))
    return sent, time.perf_counter() - began


def cpu_s(pid: int | None = None) -> float:
    """CPU seconds (user + system) used so far by this process, or by another one (Linux /proc)."""
    if pid is None:
        return time.process_time()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def held(sandbox_dir: Path, batch: list[OutboundMessage]) -> tuple[int, int]:
    """(distinct, total) deliveries of the batch the sandbox recorded (Kivra keys by payload: by subject there)."""
    channel = batch[0].channel
    ids = {m.subject if channel == "mailbox" else m.message_id for m in batch}
    column = "subject" if channel == "mailbox" else "idempotency_key"
    with sqlite3.connect(sandbox_dir / "received.sqlite") as db:
        keys = [k.removesuffix("@omnibill") for (k,) in db.execute(
            f"SELECT {column} FROM received WHERE channel = ?", (channel,))]
    mine = [k for k in keys if k in ids]
    return len(set(mine)), len(mine)


def main() -> None:
    """Start the sandbox, send N messages per channel and connection count, print messages/s."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="messages per channel and connection count")
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--channels", nargs="+", default=list(PROVIDERS), choices=list(PROVIDERS))
    parser.add_argument("--attachment-kb", type=int, default=20, help="size of each PDF (e-mail and mailbox)")
    args = parser.parse_args()

    from channel_adapters.registry import build_provider
    from config.settings import Settings
    from omnibill.sandbox import Sandbox
    from omnibill.sandbox.runner import sandbox_environment

    work = Path(tempfile.mkdtemp(prefix="bench-dispatch-"))
    smtp_port, http_port, sink_port = free_port(), free_port(), free_port()
    public_url = f"http://127.0.0.1:{sink_port}"
    env = {**os.environ, **sandbox_environment("127.0.0.1", smtp_port, http_port),
           "OMNIBILL_DATA_DIR": str(work / "var"), "OMNIBILL_WEBHOOKS__PUBLIC_URL": public_url}
    omnibill = str(Path(sys.executable).with_name("omnibill"))
    children = [subprocess.Popen([sys.executable, "-c", _SINK, str(sink_port)]),
                subprocess.Popen([omnibill, "sandbox", "--smtp-port", str(smtp_port), "--http-port", str(http_port)],
                                 env=env, cwd=work, stdout=subprocess.DEVNULL)]
    try:
        for port in (sink_port, smtp_port, http_port):
            wait_listening(port)
        box = Sandbox(work / "var" / "sandbox", "127.0.0.1", smtp_port, http_port)
        base = Settings(_env_file=None, data_dir=work / "var")
        settings = box.configure(base.model_copy(
            update={"webhooks": base.webhooks.model_copy(update={"public_url": public_url})}))
        print(f"{args.n} messages per channel, attachments {args.attachment_kb} KB, sandbox pid {children[1].pid}")
        print(f"{'channel':8} {'provider':8} {'connections':>11} {'sent':>6} {'held':>6} {'seconds':>8} {'msg/s':>8}"
              f" {'ms CPU/msg: ours':>16} {'sandbox':>8}")
        for channel in args.channels:
            for connections in args.connections:
                run_id = uuid.uuid4().hex[:8]
                batch = [message(channel, run_id, n, args.attachment_kb) for n in range(args.n)]
                adapter = build_provider(PROVIDERS[channel], settings, connections=connections)
                ours, theirs = cpu_s(), cpu_s(children[1].pid)
                try:
                    sent, seconds = send_all(adapter, batch)
                finally:
                    adapter.close()
                distinct, total = held(work / "var" / "sandbox", batch)
                flag = "" if distinct == total == args.n else f"  (held {distinct} distinct of {total})"
                print(f"{channel:8} {PROVIDERS[channel]:8} {connections:>11} {sent:>6} {distinct:>6} "
                      f"{seconds:>8.2f} {args.n / seconds:>8.0f} {(cpu_s() - ours) * 1000 / args.n:>16.2f}"
                      f" {(cpu_s(children[1].pid) - theirs) * 1000 / args.n:>8.2f}{flag}")
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.wait(10)


if __name__ == "__main__":
    main()
