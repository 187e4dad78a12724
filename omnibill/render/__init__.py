"""Rendering: one billing document as PDF, e-mail, SMS text and PEPPOL UBL, in the customer's language."""

from omnibill.render.email_body import RenderedEmail, render_email
from omnibill.render.pdf import render_pdf
from omnibill.render.sms_text import render_sms, sms_segments
from omnibill.render.ubl import render_ubl

__all__ = ["RenderedEmail", "render_email", "render_pdf", "render_sms", "render_ubl", "sms_segments"]
