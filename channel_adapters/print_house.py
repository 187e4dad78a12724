"""Print house drop: a batch's PDFs merged into one print stream, then a CSV manifest as the "go" signal."""

from __future__ import annotations

import csv
import hashlib
import io
from collections import defaultdict
from collections.abc import Sequence

import pikepdf

from channel_adapters.base import ChannelAdapter, DispatchResult, OutboundMessage, TransientError
from channel_adapters.einvoice import STORE_ERRORS, drop_key
from omnibill.store import ObjectStore

ADDRESS_FIELDS = ("name", "care_of", "street", "postal_code", "city", "country")
REQUIRED_ADDRESS = ("name", "street", "postal_code", "city", "country")
MANIFEST_FIELDS = ("message_id", "invoice_id", *ADDRESS_FIELDS, "first_page", "page_count", "sheets")


def stream_name(message_ids: Sequence[str]) -> str:
    """`batch-<hash of the sorted ids>`: the same batch always gets the same file names."""
    digest = hashlib.sha256("\n".join(sorted(message_ids)).encode()).hexdigest()[:16]
    return f"batch-{digest}"


class PrintHouseAdapter(ChannelAdapter):
    """Writes `<drop_prefix>/batch-<hash>.pdf` and then `<drop_prefix>/batch-<hash>.csv` per batch.

    A letter is in at most one print file: before a stream is written, the manifests already in the
    drop are read (once per adapter and prefix, then kept up to date with our own), and a letter a
    manifest lists already (a chunk that was dropped just before a crash, then claimed again made up
    differently) is answered "sent" with that manifest instead of being printed again. A stream
    whose PDF was written but not its manifest was never started by the print house.
    """

    channel = "print"
    provider = "print-drop"
    max_batch = 500  # the print stream is assembled in memory
    body_maxlen = None

    def __init__(self, store: ObjectStore, duplex: bool = True):
        self.store = store
        # Printed on both sides, a letter with an odd page count gets a blank back page so the
        # next letter starts on a fresh sheet (the inserter splits the stream by sheets).
        self.duplex = duplex
        self._in_manifests: dict[str, dict[str, str]] = {}  # drop prefix -> message id -> manifest key

    def send_batch(self, messages: Sequence[OutboundMessage]) -> list[DispatchResult]:
        """Drop one print stream and manifest per drop prefix; unprintable messages fail permanently."""
        results: dict[str, DispatchResult] = {}
        groups: dict[str, list[tuple[OutboundMessage, pikepdf.Pdf]]] = defaultdict(list)
        for message in messages:
            dropped = self._manifested(message.metadata.get("drop_prefix", "")).get(message.message_id)
            if dropped:
                results[message.message_id] = DispatchResult(message.message_id, "sent", provider_ref=dropped)
                continue
            reader, problem = _readable(message)
            if problem:
                results[message.message_id] = DispatchResult(message.message_id, "failed", error=problem,
                                                             permanent=True)
            else:
                groups[message.metadata.get("drop_prefix", "")].append((message, reader))
        for prefix, items in groups.items():
            manifest_key = self._drop_stream(items)
            self._manifested(prefix).update({m.message_id: manifest_key for m, _ in items})
            results.update({m.message_id: DispatchResult(m.message_id, "sent", provider_ref=manifest_key)
                            for m, _ in items})
        return [results[m.message_id] for m in messages]

    def _manifested(self, prefix: str) -> dict[str, str]:
        """Letters already in a manifest of this drop prefix: message id -> manifest key."""
        if prefix not in self._in_manifests:
            index: dict[str, str] = {}
            try:
                keys = self.store.keys(prefix.strip("/") + "/" if prefix.strip("/") else "")
                for key in (k for k in keys if k.rsplit("/", 1)[-1].startswith("batch-") and k.endswith(".csv")):
                    for row in csv.DictReader(io.StringIO(self.store.get(key).decode("utf-8"))):
                        index[row["message_id"]] = key
            except STORE_ERRORS as exc:
                raise TransientError(f"print drop {self.store.url} unreadable: {exc}") from exc
            self._in_manifests[prefix] = index
        return self._in_manifests[prefix]

    def _drop_stream(self, items: list[tuple[OutboundMessage, pikepdf.Pdf]]) -> str:
        # Presorted by destination (postage discounts); the id breaks ties so reruns are identical.
        items = sorted(items, key=lambda it: (it[0].metadata["country"], it[0].metadata["postal_code"],
                                              it[0].message_id))
        pdf = io.BytesIO()
        with pikepdf.new() as stream:  # qpdf copies each letter's pages with what they use, as they are
            rows = [self._append(stream, message, letter) for message, letter in items]
            stream.save(pdf, deterministic_id=True, compress_streams=False,  # streams copied, never recompressed
                        stream_decode_level=pikepdf.StreamDecodeLevel.none)
        for _, letter in items:
            letter.close()
        name = stream_name([m.message_id for m, _ in items])
        first = items[0][0]
        try:
            self.store.put(drop_key(first, f"{name}.pdf"), pdf.getvalue(), "application/pdf")
            # The manifest goes last: the print house starts on it, so it must never precede its PDF.
            return self.store.put(drop_key(first, f"{name}.csv"), _manifest(rows), "text/csv")
        except STORE_ERRORS as exc:
            raise TransientError(f"print drop {self.store.url} unavailable: {exc}") from exc

    def _append(self, stream: pikepdf.Pdf, message: OutboundMessage, letter: pikepdf.Pdf) -> dict[str, object]:
        first_page = len(stream.pages) + 1
        stream.pages.extend(letter.pages)
        pages = len(letter.pages)
        if self.duplex and pages % 2:
            box = letter.pages[-1].mediabox
            stream.add_blank_page(page_size=(float(box[2]) - float(box[0]), float(box[3]) - float(box[1])))
        sheets = (pages + 1) // 2 if self.duplex else pages
        address = {f: message.metadata.get(f, "") for f in ADDRESS_FIELDS}
        return {"message_id": message.message_id, "invoice_id": message.invoice_id, **address,
                "first_page": first_page, "page_count": pages, "sheets": sheets}


def _readable(message: OutboundMessage) -> tuple[pikepdf.Pdf | None, str | None]:
    """The message's PDF opened for merging, or why it cannot be printed."""
    missing = [f for f in REQUIRED_ADDRESS if not message.metadata.get(f)]
    if missing:
        return None, f"incomplete postal address: missing {', '.join(missing)}"
    pdf = next((a for a in message.attachments if a.content_type == "application/pdf"), None)
    if pdf is None:
        return None, "message has no PDF attachment"
    try:
        letter = pikepdf.open(io.BytesIO(pdf.content))
    except (pikepdf.PdfError, ValueError) as exc:
        return None, f"unreadable PDF: {exc}"
    if not letter.pages:
        letter.close()
        return None, "PDF has no pages"
    return letter, None


def _manifest(rows: list[dict[str, object]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=MANIFEST_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")
