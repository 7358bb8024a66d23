"""One snapshot of the simulated deals: the Pipedrive "Export deals" text and its truth.

``render_snapshot`` cuts the timeline at the end of the as-of day (the export is taken at
18:00 UTC, after every event of the day), writes each deal's state as the text cells of a
Pipedrive export, then spoils a ``messy`` share of rows in ways a reader must cope with and a
very few rows with values no reader can use. The truth is built from the clean cells, so it
says exactly what the export says; rows with unusable cells are listed as expected rejects.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd

from core.deals import DATE_COLUMNS, conform
from core.sample import catalog as cat
from core.sample.simulate import Timeline

ID, TITLE, OWNER, VALUE, CURRENCY, WEIGHTED = (
    "Deal - ID", "Deal - Title", "Deal - Owner", "Deal - Value", "Deal - Currency of Value",
    "Deal - Weighted value",
)
PIPELINE, STAGE, STATUS, CREATED, UPDATED, STAGE_CHANGE = (
    "Deal - Pipeline", "Deal - Stage", "Deal - Status", "Deal - Deal created", "Deal - Update time",
    "Deal - Last stage change",
)
WON, LOST, LOST_REASON, CLOSED, EXPECTED_CLOSE, PROBABILITY = (
    "Deal - Won time", "Deal - Lost time", "Deal - Lost reason", "Deal - Deal closed on",
    "Deal - Expected close date", "Deal - Probability",
)
ORGANIZATION, CONTACT, NEXT_ACTIVITY, LAST_ACTIVITY, LABEL = (
    "Deal - Organization", "Deal - Contact person", "Deal - Next activity date",
    "Deal - Last activity date", "Deal - Label",
)
INVOICE_DATE, PAYMENT_DATE, NOTES = "Deal - Invoice date", "Deal - Payment date", "Deal - Notes"

#: The export's columns, in file order; the last three are the company's custom fields.
EXPORT_HEADERS = (
    ID, TITLE, OWNER, VALUE, CURRENCY, WEIGHTED, PIPELINE, STAGE, STATUS, CREATED, UPDATED,
    STAGE_CHANGE, WON, LOST, LOST_REASON, CLOSED, EXPECTED_CLOSE, PROBABILITY, ORGANIZATION,
    CONTACT, NEXT_ACTIVITY, LAST_ACTIVITY, LABEL, INVOICE_DATE, PAYMENT_DATE, NOTES,
)
#: Export column -> canonical column (core.deals); value_base is derived from value.
CANONICAL = {
    ID: "deal_id", TITLE: "title", OWNER: "owner", VALUE: "value", CURRENCY: "currency",
    PIPELINE: "pipeline", STAGE: "stage", STATUS: "status", CREATED: "created_at",
    UPDATED: "updated_at", STAGE_CHANGE: "stage_changed_at", WON: "won_at", LOST: "lost_at",
    CLOSED: "closed_at", EXPECTED_CLOSE: "expected_close", PROBABILITY: "probability",
    ORGANIZATION: "organization", CONTACT: "contact", INVOICE_DATE: "invoice_date",
    PAYMENT_DATE: "payment_date", NOTES: "notes",
}
_HEADER_OF = {column: header for header, column in CANONICAL.items()}
#: Columns with no canonical home: the truth keeps their non-blank cells in ``extra``.
EXTRA_HEADERS = tuple(h for h in EXPORT_HEADERS if h not in CANONICAL)

#: Ways a row gets messy but stays readable (one per messy row).
MESSY_KINDS = ("thousands", "currency_code", "blank_value", "lowercase_status", "padded_text")
#: Cells no reader can parse; a file with any messiness carries at least one such row.
BAD_CELLS = ((VALUE, "TBD"), (EXPECTED_CLOSE, "ASAP"))

#: Events happen in working hours, 05:00-15:00 UTC (08:00-18:00 in Riyadh).
WORK_START_HOUR, WORK_HOURS = 5, 10


def timestamp_text(epoch: dt.date, t: np.ndarray) -> np.ndarray:
    """``YYYY-MM-DD HH:MM:SS`` for float days since ``epoch`` ("" where ``t`` is NaN)."""
    missing = np.isnan(t)
    t = np.where(missing, 0.0, t)
    day = np.floor(t)
    seconds = day * 86400 + np.round((WORK_START_HOUR + WORK_HOURS * (t - day)) * 3600)
    stamps = np.datetime64(epoch, "s") + seconds.astype("int64").astype("timedelta64[s]")
    text = [stamp.replace("T", " ") for stamp in np.datetime_as_string(stamps, unit="s")]
    return np.where(missing, "", np.array(text, dtype=object)).astype(object)


def date_text(epoch: dt.date, t: np.ndarray) -> np.ndarray:
    """``YYYY-MM-DD`` of the day ``t`` falls on ("" where NaN)."""
    missing = np.isnan(t)
    days = np.floor(np.where(missing, 0.0, t)).astype("int64").astype("timedelta64[D]")
    return np.where(missing, "", np.datetime_as_string(np.datetime64(epoch, "D") + days)).astype(object)


def number_text(x: np.ndarray) -> np.ndarray:
    """Plain numbers as Pipedrive writes them: no separators, at most 2 decimals, "" for NaN."""
    return np.array(
        ["" if np.isnan(v) else f"{v:.2f}".rstrip("0").rstrip(".") for v in np.round(x, 2)], dtype=object
    )


def deal_state(timeline: Timeline, as_of: dt.date) -> dict[str, np.ndarray]:
    """The clean export cells of every deal created by the end of ``as_of``, in id order."""
    cut = (as_of - timeline.epoch).days + 1
    deals = timeline.deals
    deals = deals[deals["created"].to_numpy() < cut]  # ids follow creation, so a prefix
    events = timeline.stage_events
    current = (
        events[events["t"].to_numpy() < cut]
        .groupby("deal", sort=True)
        .agg(stage=("stage", "last"), t=("t", "last"), moves=("t", "size"))
    )
    col = {name: deals[name].to_numpy() for name in deals.columns}
    stage_idx = current["stage"].to_numpy()
    stage = np.array(cat.STAGES, dtype=object)[stage_idx]
    pipeline = np.array([cat.PIPELINE_OF_STAGE[s] for s in cat.STAGES], dtype=object)[stage_idx]
    won = col["won_t"] < cut
    lost = col["lost_t"] < cut
    paid = col["paid_t"] < cut
    won_t, lost_t = np.where(won, col["won_t"], np.nan), np.where(lost, col["lost_t"], np.nan)
    stage_changed = np.where(current["moves"].to_numpy() > 1, current["t"].to_numpy(), np.nan)

    # activities run every touch_period days until the deal is lost or paid
    alive_until = np.fmin(np.fmin(np.full(len(deals), float(cut)), col["lost_t"]), col["paid_t"])
    first_touch = col["created"] + col["touch_phase"]
    touched = alive_until > first_touch
    steps = np.ceil((alive_until - first_touch) / col["touch_period"]) - 1
    last_touch = np.where(touched, first_touch + steps * col["touch_period"], np.nan)
    next_touch = np.where(touched, last_touch + col["touch_period"], first_touch)
    is_open = ~won & ~lost
    updated = np.fmax.reduce([col["created"], current["t"].to_numpy(), won_t, lost_t, last_touch])

    stage_probability = np.array([cat.STAGE_PROBABILITY[s] for s in cat.STAGES], dtype=float)[stage_idx]
    probability = np.where(col["shows_probability"], stage_probability, np.nan)
    weighted = col["value"] * np.where(np.isnan(probability), stage_probability, probability) / 100
    invoice_day = np.where(won & (col["invoice_lag"] >= 0), np.floor(won_t) - col["invoice_lag"], np.nan)
    notes = np.array(
        [cat.NOTES[s][pick % len(cat.NOTES[s])] for s, pick in zip(stage, col["note_pick"], strict=True)],
        dtype=object,
    )
    reasons = np.array(
        [cat.LOST_REASONS[p][pick % len(cat.LOST_REASONS[p])]
         for p, pick in zip(pipeline, col["lost_reason_pick"], strict=True)],
        dtype=object,
    )
    epoch = timeline.epoch
    return {
        ID: col["deal_id"].astype(str).astype(object),
        TITLE: col["title"],
        OWNER: col["owner"],
        VALUE: number_text(col["value"]),
        CURRENCY: col["currency"],
        WEIGHTED: number_text(weighted),
        PIPELINE: pipeline,
        STAGE: stage,
        STATUS: np.select([won, lost], ["Won", "Lost"], "Open").astype(object),
        CREATED: timestamp_text(epoch, col["created"]),
        UPDATED: timestamp_text(epoch, updated),
        STAGE_CHANGE: timestamp_text(epoch, stage_changed),
        WON: timestamp_text(epoch, won_t),
        LOST: timestamp_text(epoch, lost_t),
        LOST_REASON: np.where(lost, reasons, ""),
        CLOSED: timestamp_text(epoch, np.fmin(won_t, lost_t)),
        EXPECTED_CLOSE: date_text(epoch, col["expected_close"]),
        PROBABILITY: number_text(probability),
        ORGANIZATION: col["organization"],
        CONTACT: col["contact"],
        NEXT_ACTIVITY: date_text(epoch, np.where(is_open & col["shows_next_activity"], next_touch, np.nan)),
        LAST_ACTIVITY: date_text(epoch, last_touch),
        LABEL: col["label"],
        INVOICE_DATE: date_text(epoch, invoice_day),
        PAYMENT_DATE: date_text(epoch, np.where(paid & col["shows_payment_date"], col["paid_t"], np.nan)),
        NOTES: np.where(col["shows_notes"], notes, ""),
    }


def render_snapshot(
    timeline: Timeline, as_of: dt.date, *, rng: np.random.Generator, messy: float
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(export text, canonical truth, expected rejects) of the snapshot taken on ``as_of``."""
    cells = deal_state(timeline, as_of)
    clean = pd.DataFrame(cells, columns=list(EXPORT_HEADERS), dtype=object)
    export = clean.copy()
    rejects = _spoil(export, rng, messy, flip=as_of.toordinal() % len(BAD_CELLS))
    truth = _truth(clean, export)
    return export.astype("str"), truth, rejects


def _spoil(export: pd.DataFrame, rng: np.random.Generator, messy: float, flip: int) -> pd.DataFrame:
    """Make a ``messy`` share of rows messy in place; return the rows made unreadable."""
    rows = len(export)
    kind = np.where(rng.random(rows) < messy, rng.integers(0, len(MESSY_KINDS), rows), -1)
    bad_count = 0 if messy == 0 or rows == 0 else min(rows, max(1, round(rows * messy / 10)))
    bad_rows = np.sort(rng.choice(rows, size=bad_count, replace=False))
    kind[bad_rows] = -1
    value = export[VALUE].astype(float)

    def rows_of(name: str) -> np.ndarray:
        return kind == MESSY_KINDS.index(name)

    thousands = rows_of("thousands")
    export.loc[thousands, VALUE] = [f"{v:,.2f}" for v in value[thousands]]
    coded = rows_of("currency_code")
    export.loc[coded, VALUE] = [
        f"{cur} {v:,.0f}" for cur, v in zip(export.loc[coded, CURRENCY], value[coded], strict=True)
    ]
    blank = rows_of("blank_value")
    export.loc[blank, [VALUE, WEIGHTED]] = ""
    lower = rows_of("lowercase_status")
    export.loc[lower, STATUS] = export.loc[lower, STATUS].str.lower()
    padded = rows_of("padded_text")
    for header in (TITLE, OWNER, ORGANIZATION):
        filled = padded & (export[header] != "").to_numpy()
        export.loc[filled, header] = "  " + export.loc[filled, header] + " "

    bad = []
    for i, position in enumerate(bad_rows):
        header, text = BAD_CELLS[(i + flip) % len(BAD_CELLS)]
        export.loc[position, header] = text
        bad.append({"position": int(position), "deal_id": export.loc[position, ID], "column": header,
                    "value": text})
    return pd.DataFrame(bad, columns=["position", "deal_id", "column", "value"])


def _truth(clean: pd.DataFrame, export: pd.DataFrame) -> pd.DataFrame:
    """Canonical deals saying exactly what ``export`` says, from the clean cells; a value left
    blank by the mess is null. Blank text is null; ``extra`` holds the non-blank cells of the
    columns without a canonical home."""
    frame = clean.rename(columns=CANONICAL)[list(CANONICAL.values())].replace("", None)
    for column in DATE_COLUMNS:
        if column in frame:  # ISO text: numpy reads its date part directly ("" is NaT)
            days = clean[_HEADER_OF[column]].str[:10].to_numpy(dtype=str)
            frame[column] = days.astype("datetime64[D]").astype("datetime64[s]")
    frame["status"] = frame["status"].str.lower()
    frame["value"] = np.where(export[VALUE] == "", np.nan, pd.to_numeric(frame["value"]))
    frame["probability"] = pd.to_numeric(frame["probability"]) / 100
    frame["value_base"] = frame["value"] * frame["currency"].map(cat.SAMPLE_RATES).astype(float)
    extras = export[list(EXTRA_HEADERS)].to_dict("records")
    frame["extra"] = [
        json.dumps({k: v.strip() for k, v in row.items() if v.strip()}, ensure_ascii=False) for row in extras
    ]
    return conform(frame)
