"""Deterministic sample data: weekly Pipedrive "Export deals" files of the same evolving deals.

    history = generate_history(deals=300, snapshots=8, seed=7)
    paths = write_history(history, "out/", formats=("csv", "xlsx"))

Each ``SampleSnapshot`` carries the export's text cells, the canonical truth of what they
say, and the rows a reader must reject. The deals live one simulated life (``simulate``):
they advance through the stages of DESIGN 5.1 (after the pre-sale stages of a second
pipeline), stall, are won or lost, and new ones appear; each export is that life seen on its
as-of date. The same arguments give byte-identical files.

In the CLI: ``python -m core sample --rows 300 --snapshots 8 OUT_DIR``.

``generate_outcome_case`` is a different shape: one plain sales CRM export (open and closed
deals, no probability, invoice or payment columns), a later export of the same CRM, and the
true outcome of every deal, to score forecasts made from a single export.
"""

from core.sample.catalog import DEFAULT_STAGE_DAYS, PAYMENT_DAYS, SAMPLE_RATES, STAGES
from core.sample.export import EXPORT_HEADERS
from core.sample.files import write_history
from core.sample.history import SampleSnapshot, generate_history
from core.sample.outcomes import OutcomeCase, generate_outcome_case
from core.sample.simulate import expected_days_to_invoice

__all__ = [
    "DEFAULT_STAGE_DAYS",
    "EXPORT_HEADERS",
    "PAYMENT_DAYS",
    "SAMPLE_RATES",
    "STAGES",
    "OutcomeCase",
    "SampleSnapshot",
    "expected_days_to_invoice",
    "generate_history",
    "generate_outcome_case",
    "write_history",
]
