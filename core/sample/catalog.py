"""The fixed facts the sample generator draws from: stages, their mean days, people, text.

The company is the seed profile's interior fit-out contractor in Saudi Arabia (DESIGN 5.3).
Two Pipedrive pipelines: "Sales" (pre-sale) and "Projects" (delivery). A sale that is won in
Negotiation moves to Projects at Order Received and stays open while the project runs; it is
marked Won when the invoice goes out (Invoice Issued) and moves on to Payment Received when
the cash arrives.

Mean days in each delivery stage come from DESIGN 5.1's "realistic" column, which gives days
from a stage to the invoice: a stage's mean is the gap between its days-to-invoice and the
next stage's, so that the expected days from entering a stage to the invoice reproduce the
table on the usual paths (``expected_days_to_invoice`` computes them). The table puts Under
Progress and Awaiting MDD both at 12 days, which no positive gap can honour: Under Progress
gets 3 days and its days-to-invoice comes out 15; every other stage matches within a day.
"""

from __future__ import annotations

SALES, PROJECTS = "Sales", "Projects"

SALES_STAGES = ("Lead In", "Qualified", "Proposal Sent", "Negotiation")
PROJECT_STAGES = (
    "Order Received",
    "Approved",
    "Awaiting Payment",
    "Awaiting Site Readiness",
    "Everything Ready (but not started)",
    "Under Progress",
    "Awaiting MDD",
    "Awaiting GCC",
    "Awaiting GR",
    "Invoice Issued",
    "Payment Received",
)
#: Every stage in forward order: a deal only moves to a later stage, except rework
#: (Awaiting MDD back to Under Progress, then forward again).
STAGES = SALES_STAGES + PROJECT_STAGES
STAGE_INDEX = {name: i for i, name in enumerate(STAGES)}
PIPELINE_OF_STAGE = {name: SALES if name in SALES_STAGES else PROJECTS for name in STAGES}

#: Mean days a deal spends in each stage before it moves on (or is lost), at scale 1.0.
#: Delivery stages derive from DESIGN 5.1 (see the module docstring); sales stages are
#: typical B2B figures. Invoice Issued lasts the customer's payment delay (PAYMENT_DAYS).
DEFAULT_STAGE_DAYS: dict[str, float] = {
    "Lead In": 7.0,
    "Qualified": 10.0,
    "Proposal Sent": 14.0,
    "Negotiation": 12.0,
    "Order Received": 13.0,
    "Approved": 5.0,
    "Awaiting Payment": 7.0,
    "Awaiting Site Readiness": 7.0,
    "Everything Ready (but not started)": 2.0,
    "Under Progress": 3.0,
    "Awaiting MDD": 2.0,
    "Awaiting GCC": 3.0,
    "Awaiting GR": 7.0,
}

#: Where a deal goes when it leaves a stage without being lost: (next stage, share).
NEXT_STAGES: dict[str, tuple[tuple[str, float], ...]] = {
    "Lead In": (("Qualified", 1.0),),
    "Qualified": (("Proposal Sent", 1.0),),
    "Proposal Sent": (("Negotiation", 1.0),),
    "Negotiation": (("Order Received", 1.0),),
    "Order Received": (("Approved", 1.0),),
    "Approved": (
        ("Awaiting Payment", 0.6),
        ("Awaiting Site Readiness", 0.24),
        ("Everything Ready (but not started)", 0.16),
    ),
    "Awaiting Payment": (("Awaiting Site Readiness", 0.6), ("Everything Ready (but not started)", 0.4)),
    "Awaiting Site Readiness": (("Under Progress", 1.0),),
    "Everything Ready (but not started)": (("Under Progress", 1.0),),
    "Under Progress": (("Awaiting MDD", 1.0),),
    "Awaiting MDD": (("Awaiting GCC", 1.0),),
    "Awaiting GCC": (("Awaiting GR", 1.0),),
    "Awaiting GR": (("Invoice Issued", 1.0),),
    "Invoice Issued": (("Payment Received", 1.0),),
}

#: Chance that a deal in a stage is lost there instead of moving on.
LOSS_SHARE: dict[str, float] = {
    "Lead In": 0.2,
    "Qualified": 0.15,
    "Proposal Sent": 0.2,
    "Negotiation": 0.15,
    "Order Received": 0.04,
    "Approved": 0.03,
    "Awaiting Payment": 0.02,
}

#: Share of deals reaching Awaiting MDD whose documents are rejected: they go back to
#: Under Progress for rework (one more Under Progress stay), then return to Awaiting MDD.
REWORK_SHARE = 0.04

#: Pipedrive's stage probability (percent), used for the weighted value and for the deals
#: whose own probability field is filled.
STAGE_PROBABILITY: dict[str, int] = {
    "Lead In": 10, "Qualified": 25, "Proposal Sent": 50, "Negotiation": 75,
    **dict.fromkeys(PROJECT_STAGES, 100),
}

#: Fixed conversion rates to SAR for the sample (SAR per unit).
SAMPLE_RATES: dict[str, float] = {"SAR": 1.0, "USD": 3.75, "EUR": 4.05, "AED": 1.0211}

#: Mean days from invoice to payment: organisations matching "aramco" pay in 7 days
#: (the seed profile's rule), everyone else on the default 37-day terms.
PAYMENT_DAYS = {"aramco": 7.0, "default": 37.0}

#: (organisation, currency, weight). Blank organisation = a deal without one.
ORGANIZATIONS: tuple[tuple[str, str, float], ...] = (
    ("Saudi Aramco", "SAR", 14.0),
    ("Aramco Services Company", "USD", 5.0),
    ("Aramco Trading", "SAR", 4.0),
    ("SABIC", "SAR", 6.0),
    ("Ma'aden", "SAR", 4.0),
    ("Saudi Electricity Company", "SAR", 5.0),
    ("stc", "SAR", 4.0),
    ("Red Sea Global", "SAR", 4.0),
    ("NEOM", "SAR", 5.0),
    ("Al Rajhi Bank", "SAR", 4.0),
    ("Riyad Bank", "SAR", 3.0),
    ("King Fahd University of Petroleum & Minerals", "SAR", 3.0),
    ("Dammam Municipality", "SAR", 3.0),
    ("Almarai", "SAR", 3.0),
    ("Jadwa Investment", "SAR", 2.0),
    ("مجموعة الزامل", "SAR", 2.0),
    ("Emaar Middle East", "AED", 3.0),
    ("Dubai Holding", "AED", 2.0),
    ("Siemens Energy", "EUR", 3.0),
    ("Schneider Electric", "EUR", 2.0),
    ("Honeywell", "USD", 3.0),
    ("Halliburton", "USD", 2.0),
    ("", "SAR", 3.0),
)

OWNERS = ("Faisal Al-Harbi", "Noura Al-Qahtani", "Ahmed Khan", "Sara Mitchell", "Omar Haddad")
OWNER_WEIGHTS = (0.28, 0.24, 0.2, 0.16, 0.12)

FIRST_NAMES = (
    "Abdullah", "Mohammed", "Khalid", "Fatimah", "Reem", "Yousef", "Hassan", "Layla",
    "John", "Priya", "Tariq", "Mariam", "Saleh", "Huda", "David", "Nasser",
)
LAST_NAMES = (
    "Al-Otaibi", "Al-Dosari", "Al-Shehri", "Al-Ghamdi", "Al-Zahrani", "Al-Mutairi",
    "Hussain", "Smith", "Nair", "Al-Subaie", "Al-Anazi", "Rahman",
)

WORKS = (
    "Office fit-out", "Majlis interior", "Reception refurbishment", "Gypsum ceiling works",
    "Carpet supply & installation", "Furniture supply", "Joinery works", "Glass partitions",
    "Raised floor", "Signage supply", "Meeting rooms upgrade", "Prayer room fit-out",
)
PLACES = (
    "Dhahran", "Ras Tanura", "Abqaiq", "Riyadh", "Jeddah", "Al Khobar", "Dammam", "Jubail",
    "Yanbu", "Udhailiyah", "Bldg 3145", "Tower B L12",
)

LABELS = ("", "Hot", "Warm", "Cold")
LABEL_WEIGHTS = (0.55, 0.15, 0.2, 0.1)

LOST_REASONS = {
    SALES: ("Price too high", "Lost to competitor", "No budget", "No response from client",
            "Timeline not feasible"),
    PROJECTS: ("Project cancelled by client", "Budget withdrawn", "Scope moved to another contractor"),
}

#: Notes by current stage; a deal keeps its pick of each list, so notes change when it moves.
NOTES: dict[str, tuple[str, ...]] = {
    "Lead In": (
        "Inbound enquiry via website.",
        "Met at Big 5 Saudi, asked for company profile.",
        "Referral from existing client.",
    ),
    "Qualified": (
        "Budget confirmed by client.",
        'Site visit done; client wants "premium" finishes.',
        "Decision maker identified: facilities manager.",
    ),
    "Proposal Sent": (
        "Proposal v2 sent with revised BOQ.",
        "Technical offer under client review.",
        "Sent 3D renders and price, awaiting feedback.",
    ),
    "Negotiation": (
        "Client asked for 5% discount, waiting for approval.",
        "Commercial clarifications ongoing.\nCall back on Sunday.",
        "Payment terms under discussion (30 vs 60 days).",
    ),
    "Order Received": (
        "PO received, kick-off meeting pending.",
        "تم استلام أمر الشراء، بانتظار الاجتماع الأول",
        "PO received; end user not yet identified.",
    ),
    "Approved": (
        "Shop drawings approved by client engineer.",
        "Material samples approved.",
    ),
    "Awaiting Payment": (
        "Advance payment invoice submitted.",
        "Waiting for 30% advance before ordering material.",
    ),
    "Awaiting Site Readiness": (
        "Waiting for site handover; civil works still ongoing.",
        "Site not ready, client to confirm date.",
    ),
    "Everything Ready (but not started)": (
        "Materials on site, crew scheduled.",
        "All approvals in place, start next week.",
    ),
    "Under Progress": (
        "Installation 60% complete.",
        "Material delay from supplier, +5 days.",
        "Work ongoing; rework on ceiling panels requested.",
    ),
    "Awaiting MDD": (
        "MDD submitted for approval.",
        "MDD returned with comments, resubmitting.",
    ),
    "Awaiting GCC": (
        "Waiting for client rep to sign GCC.",
        "GCC walkthrough done, minor snags.",
    ),
    "Awaiting GR": (
        "GR pending in client's SAP.",
        "Chasing GR with procurement.",
    ),
    "Invoice Issued": (
        "Invoice submitted via supplier portal.",
        "Invoice sent, payment expected per terms.",
    ),
    "Payment Received": (
        "Payment received, project closed.",
        "Paid in full.",
    ),
}
