"""Every fixed text of the documents, in English: the msgids of the gettext catalogs under locale/."""

from __future__ import annotations


def N_(message: str) -> str:
    """Mark a text for extraction (`pybabel extract -k N_`); translated later through the catalog."""
    return message


# key -> English source text; placeholders in braces are filled by str.format after translation.
MESSAGES: dict[str, str] = {
    "invoice": N_("Invoice"),
    "credit_note": N_("Credit note"),
    "reminder": N_("Payment reminder"),
    "invoice_no": N_("Invoice number"),
    "issue_date": N_("Invoice date"),
    "due_date": N_("Due date"),
    "customer_no": N_("Customer number"),
    "period": N_("Period"),
    "page": N_("Page {page} of {pages}"),
    "col_description": N_("Description"),
    "col_quantity": N_("Quantity"),
    "col_unit": N_("Unit"),
    "col_unit_price": N_("Unit price"),
    "col_vat": N_("VAT %"),
    "col_amount": N_("Amount"),
    "vat_summary": N_("VAT summary"),
    "vat_basis": N_("Taxable amount"),
    "vat": N_("VAT"),
    "total_excl": N_("Total excl. VAT"),
    "rounding": N_("Rounding"),
    "to_pay": N_("Amount due"),
    "to_credit": N_("Amount credited"),
    "payment": N_("Payment details"),
    "reference": N_("Payment reference"),
    "account": N_("Account"),
    "scan": N_("Scan to pay"),
    "org_no": N_("Reg. no."),
    "vat_id": N_("VAT no."),
    "phone": N_("Phone"),
    "email": N_("E-mail"),
    "web": N_("Web"),
    "consumption": N_("Consumption, last 12 months"),
    "greeting": N_("Hello {name},"),
    "intro_invoice": N_("Please find attached your invoice from {sender} as a PDF."),
    "intro_credit_note": N_("Please find attached a credit note from {sender} as a PDF."),
    "intro_reminder": N_("We have not yet received payment for invoice {number}. If you have already paid, please disregard this reminder."),
    "pay_by": N_("Please pay {amount} by {due}."),
    "credited": N_("Amount credited: {amount}."),
    "questions": N_("Questions? Contact us at {phone} or {email}."),
    "regards": N_("Kind regards"),
    "subject_due": N_("{title} {number} from {sender} – due {due}"),
    "subject": N_("{title} {number} from {sender}"),
    "sms_pay": N_("{sender}: {title} {number} of {amount} is due {due}. {account}, ref {ref}."),
    "sms_reminder": N_("{sender}: Reminder – invoice {number} of {amount} is unpaid. Please pay by {due}. {account}, ref {ref}."),
    "sms_credit": N_("{sender}: {title} {number} of {amount} has been credited."),
    "vat_exempt": N_("Exempt from VAT"),
    "view_online": N_("View your invoice online: {link}"),
    "sms_link": N_("See {link}"),
    "unsubscribe": N_("Unsubscribe"),
    "open_pdf": N_("Download the PDF"),
    "month": N_("Month"),
}
