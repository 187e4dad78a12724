"""Rendering: one billing document as PDF, e-mail, SMS text, PEPPOL UBL and Finvoice, in the customer's language."""

from omnibill.render.email_body import RenderedEmail, render_email
from omnibill.render.finvoice import render_finvoice
from omnibill.render.html_doc import render_html_document
from omnibill.render.pdf import render_pdf
from omnibill.render.sms_text import render_sms, sms_segments
from omnibill.render.ubl import render_ubl

__all__ = ["RenderedEmail", "render_email", "render_finvoice", "render_html_document", "render_pdf", "render_sms", "render_ubl", "sms_segments"]
