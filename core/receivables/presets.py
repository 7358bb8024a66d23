"""Presets for invoice lists: how an accounts-receivable export names the invoice columns.

``invoice_list`` is the plain header set Dealcast documents and its sample uses:

    Invoice Number, Customer, Invoice Date, Due Date, Amount, Currency, Paid Date,
    Disputed, Deal ID

(the last four optional; ``Paid Date`` blank while the invoice is open). Its ambiguous
date columns are read month-first, as US accounting tools write them. ``generic`` knows
common other names and takes the user's ``--map canonical=Source Column`` on top; its
ambiguous dates are read day-first, like the deal ingest's generic preset.
"""

from __future__ import annotations

from core.ingest.presets import Preset

INVOICE_LIST = Preset(
    name="invoice_list",
    columns={
        "invoice_id": ("Invoice Number",),
        "customer": ("Customer",),
        "invoice_date": ("Invoice Date",),
        "due_date": ("Due Date",),
        "amount": ("Amount",),
        "currency": ("Currency",),
        "paid_date": ("Paid Date",),
        "disputed": ("Disputed",),
        "deal_id": ("Deal ID",),
    },
    signature=("Invoice Number", "Invoice Date", "Due Date", "Paid Date"),
    date_order="mdy",
)

GENERIC = Preset(
    name="generic",
    columns={
        "invoice_id": (
            "invoice_id",
            "Invoice Number",
            "Invoice No",
            "Invoice No.",
            "Invoice #",
            "Invoice",
            "Invoice ID",
            "Document Number",
            "Doc No",
            "Number",
            "Num",
        ),
        "customer": (
            "customer",
            "Customer",
            "Customer Name",
            "Client",
            "Client Name",
            "Account",
            "Account Name",
            "Bill To",
            "Company",
            "Organization",
            "Organisation",
        ),
        "invoice_date": ("invoice_date", "Invoice Date", "Date", "Document Date", "Issue Date", "Issued"),
        "due_date": ("due_date", "Due Date", "Due", "Payment Due", "Due On"),
        "amount": ("amount", "Amount", "Invoice Amount", "Total", "Invoice Total", "Gross Amount"),
        "currency": ("currency", "Currency", "Currency Code", "Curr"),
        "paid_date": ("paid_date", "Paid Date", "Date Paid", "Payment Date", "Paid On", "Cleared Date"),
        "disputed": ("disputed", "Disputed", "In Dispute", "Dispute"),
        "deal_id": ("deal_id", "Deal ID", "Deal", "Opportunity ID", "Project"),
    },
    date_order="dmy",
)

INVOICE_PRESETS: dict[str, Preset] = {preset.name: preset for preset in (INVOICE_LIST, GENERIC)}
INVOICE_PRESET_NAMES = tuple(INVOICE_PRESETS)
