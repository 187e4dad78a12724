"""Test helpers shared by the adapter suite and the store tests: free ports, PDFs, a local S3."""

from __future__ import annotations

import io
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from pypdf import PdfWriter

from channel_adapters.base import Attachment, OutboundMessage
from config.settings import S3Settings


def free_port() -> int:
    """A loopback port nothing listens on (bound and released at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_pdf(pages: int = 1) -> bytes:
    """A small valid A4 PDF with `pages` blank pages."""
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def ubl(invoice_id: str) -> bytes:
    """A minimal UBL invoice document (its content is not the drop's business)."""
    return (f'<?xml version="1.0" encoding="UTF-8"?><Invoice xmlns="urn:oasis:names:specification:ubl:'
            f'schema:xsd:Invoice-2"><ID>{invoice_id}</ID></Invoice>').encode()


def outbound(channel: str, tag: str, n: int, recipient: str, pages: int = 1, **metadata: str) -> OutboundMessage:
    """Message `n` of a test batch, with every attachment and address field any adapter wants."""
    invoice_id = f"INV-{tag}-{n}"
    meta = {"drop_prefix": f"demo/{tag}", "mailbox_provider": "kivra", "name": f"Customer {n}",
            "care_of": "", "street": f"Storgatan {n}", "postal_code": f"11{n:03d}", "city": "Stockholm",
            "country": "SE", **metadata}
    return OutboundMessage(
        message_id=f"{tag}{n:04d}".ljust(32, "0"), channel=channel, document_id=f"doc-{tag}-{n}",
        invoice_id=invoice_id, recipient=recipient, subject=f"Invoice {invoice_id}",
        body_text=f"Your invoice {invoice_id} is due.", body_html=f"<p>Your invoice <b>{invoice_id}</b></p>",
        attachments=(Attachment(f"{invoice_id}.pdf", "application/pdf", make_pdf(pages)),
                     Attachment(f"{invoice_id}.xml", "application/xml", ubl(invoice_id))),
        metadata=meta)


@contextmanager
def moto_s3() -> Iterator[S3Settings]:
    """moto's S3 in server mode on a free loopback port, as S3 settings pointing at it."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield S3Settings(endpoint_url=f"http://{host}:{port}", region="eu-north-1",
                         access_key_id="testing", secret_access_key="testing")
    finally:
        server.stop()


def create_bucket(settings: S3Settings) -> str:
    """A new, uniquely named bucket; its name."""
    import boto3

    name = f"omnibill-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=settings.endpoint_url, region_name=settings.region,
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": settings.region})
    return name
