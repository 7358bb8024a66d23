"""How each customer pays, learned from paid invoices: the one payment-behaviour source.

From the invoices paid by the as-of date (and issued by then; nothing later is known),
per customer:

- days to pay (invoice date to paid date): median, P10, P90;
- days late against the due date (negative = early): median, P10, P90, and the share paid
  late. An invoice without a usable due date (none, or before its invoice date) is due
  ``default_terms`` days after its invoice date;
- the effect of a dispute: the median of a disputed invoice's days late beyond its
  customer's undisputed median (the customer's own disputes when it has at least
  ``MIN_DISPUTED``, else all customers' disputes; 0 when there are too few of those).

The figures come from undisputed invoices; a customer with fewer than ``min_samples`` of
them falls back to all customers' figures (``source`` says which, per customer and per
prediction). Credit notes and invoices paid before their invoice date teach nothing.

Customers match deal organizations by ``organization_key``: case, spacing, punctuation and
legal suffixes (Ltd, Inc, Co, LLC, GmbH, ...) do not count, so "Saudi Aramco Co." pays like
"SAUDI ARAMCO". Deals use a customer's learned days to pay as their payment terms.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import unicodedata
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

#: Fewest undisputed paid invoices of one customer before its own figures are used.
MIN_CUSTOMER_SAMPLES = 5
#: Fewest disputed paid invoices of one customer before its own dispute effect is used.
MIN_DISPUTED = 3
#: Words dropped from the end of a name (after punctuation is removed), repeatedly.
LEGAL_SUFFIXES = frozenset(
    (
        "ltd",
        "limited",
        "inc",
        "incorporated",
        "co",
        "company",
        "corp",
        "corporation",
        "llc",
        "llp",
        "lp",
        "plc",
        "gmbh",
        "ag",
        "sa",
        "sas",
        "sarl",
        "bv",
        "nv",
        "pte",
        "pty",
        "srl",
        "spa",
        "kg",
        "oy",
        "ab",
        "as",
        "est",
        "establishment",
        "wll",
        "group",
        "holding",
        "holdings",
    )
)
#: Per-customer figures, in this order, in ``BehaviourModel.customers`` and ``table()``.
FIGURES = (
    "median_days_to_pay",
    "p10_days_to_pay",
    "p90_days_to_pay",
    "median_days_late",
    "p10_days_late",
    "p90_days_late",
    "share_late",
)


def organization_key(name: object) -> str:
    """The form customer and organization names are matched in ("" for no name).

    Lower case, accents folded, ``&`` as "and", punctuation as spaces, single spaces, and
    trailing legal suffixes dropped (never the whole name): "Saudi Aramco Co., Ltd." ->
    "saudi aramco"."""
    if not isinstance(name, str):
        return ""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower().replace("&", " and ")
    text = re.sub(r"(?<=\b[a-z])\.(?=[a-z]\b)", "", text)  # l.l.c -> llc, w.l.l -> wll
    words = re.sub(r"[^\w]+", " ", text).split()
    if len(words) > 1 and words[0] == "the":
        words.pop(0)
    while len(words) > 1 and words[-1] in LEGAL_SUFFIXES:
        words.pop()
    return " ".join(words)


def organization_keys(names: pd.Series) -> np.ndarray:
    """``organization_key`` of every row, computed once per distinct name."""
    codes, uniques = pd.factorize(names, use_na_sentinel=True)
    keys = np.asarray([*(organization_key(u) for u in uniques), ""], dtype=object)
    return keys[codes]


@dataclass(frozen=True)
class Figures:
    """Payment figures of one customer or of all customers (days; NaN when nothing is known)."""

    invoices: int
    median_days_to_pay: float
    p10_days_to_pay: float
    p90_days_to_pay: float
    median_days_late: float
    p10_days_late: float
    p90_days_late: float
    share_late: float
    dispute_effect_days: float


@dataclass(frozen=True)
class BehaviourModel:
    """Per-customer payment figures learned as of ``as_of``, and all customers' as the fallback.

    ``customers`` is indexed by ``organization_key`` with ``customer`` (the name most used),
    ``invoices`` (paid invoices learned from), ``undisputed``, ``disputed``, the ``FIGURES``,
    ``dispute_effect_days`` (NaN when the customer has too few disputes) and ``source``.
    """

    as_of: dt.date
    min_samples: int
    default_terms: int
    customers: pd.DataFrame
    overall: Figures

    def learned(self) -> pd.DataFrame:
        """The customers with enough history for figures of their own."""
        return self.customers[self.customers["source"] == "learned"]

    def table(self, customer: str | None = None) -> pd.DataFrame:
        """One row per customer (``customer`` filters by name, matched like organizations).

        A name with no paid invoices gets one row with the fallback figures and 0 invoices."""
        columns = ["customer", "invoices", "disputed", *FIGURES, "dispute_effect_days", "source"]
        rows = self.customers.reset_index(drop=True)
        if customer is not None:
            key = organization_key(customer)
            rows = self.customers[self.customers.index == key].reset_index(drop=True)
            if rows.empty:
                unknown = {"customer": customer, "invoices": 0, "disputed": 0, "source": "fallback"}
                rows = pd.DataFrame([unknown])
        out = rows.reindex(columns=columns)
        fallback = (out["source"] == "fallback").to_numpy()
        for name in (*FIGURES, "dispute_effect_days"):
            values = out[name].to_numpy(dtype=np.float64, na_value=np.nan)
            out[name] = np.where(fallback | np.isnan(values), getattr(self.overall, name), values)
        return out.sort_values(["invoices", "customer"], ascending=[False, True], ignore_index=True)

    def lookup(self, keys: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
        """Per row of ``keys``: the figures to use (the customer's, else all customers') and
        whether they are the customer's own."""
        learned = self.learned()
        position = pd.Index(learned.index).get_indexer(keys)
        own = position >= 0
        out = pd.DataFrame(index=range(len(keys)))
        for name in (*FIGURES, "dispute_effect_days", "invoices"):
            overall = float(getattr(self.overall, name))
            values = np.append(learned[name].to_numpy(dtype=np.float64, na_value=np.nan), overall)
            picked = values[np.where(own, position, len(learned))]
            out[name] = np.where(np.isnan(picked), overall, picked)
        return out, own


def due_dates(invoices: pd.DataFrame, default_terms: int) -> tuple[np.ndarray, np.ndarray]:
    """The due date to reckon with per invoice, and whether the export's own was usable."""
    issued = invoices["invoice_date"].to_numpy(dtype="datetime64[D]")
    due = invoices["due_date"].to_numpy(dtype="datetime64[D]")
    usable = ~np.isnat(due) & (due >= issued)
    return np.where(usable, due, issued + np.timedelta64(default_terms, "D")), usable


def learnable(invoices: pd.DataFrame, as_of: dt.date) -> np.ndarray:
    """Invoices that teach payment behaviour as of ``as_of``: issued and paid by then, paid on
    or after the invoice date, and not credit notes."""
    today = np.datetime64(as_of, "D")
    issued = invoices["invoice_date"].to_numpy(dtype="datetime64[D]")
    paid = invoices["paid_date"].to_numpy(dtype="datetime64[D]")
    amount = invoices["amount"].to_numpy(dtype=np.float64, na_value=np.nan)
    return (issued <= today) & (paid <= today) & (paid >= issued) & (amount > 0)


_FIGURES_SQL = """
    count(*) AS invoices,
    count(*) FILTER (WHERE NOT disputed) AS undisputed,
    count(*) FILTER (WHERE disputed) AS disputed,
    quantile_cont(days_to_pay, [0.1, 0.5, 0.9]) FILTER (WHERE NOT disputed) AS pay,
    quantile_cont(days_late, [0.1, 0.5, 0.9]) FILTER (WHERE NOT disputed) AS late,
    avg(CAST(days_late > 0 AS DOUBLE)) FILTER (WHERE NOT disputed) AS share_late
"""
#: Disputed invoices' days late beyond their own customer's undisputed median: the dispute effect.
_DISPUTES_SQL = """
CREATE TEMP VIEW disputes AS
SELECT p.code, p.days_late - b.median_late AS extra
FROM paid p
JOIN (SELECT code, median(days_late) FILTER (WHERE NOT disputed) AS median_late FROM paid GROUP BY code) b
  ON b.code = p.code
WHERE p.disputed AND p.code >= 0 AND b.median_late IS NOT NULL
"""


def learn_behaviour(
    invoices: pd.DataFrame,
    as_of: dt.date,
    *,
    min_samples: int = MIN_CUSTOMER_SAMPLES,
    default_terms: int = 37,
) -> BehaviourModel:
    """Learn every customer's payment figures from the invoices known to be paid by ``as_of``."""
    rows = learnable(invoices, as_of)
    paid = invoices[rows]
    due, _ = due_dates(paid, default_terms)
    issued = paid["invoice_date"].to_numpy(dtype="datetime64[D]")
    paid_on = paid["paid_date"].to_numpy(dtype="datetime64[D]")
    keys = organization_keys(paid["customer"])
    codes, key_values = pd.factorize(keys)
    codes = np.where(keys == "", -1, codes)  # no customer: counts for all customers only
    name_codes, names = pd.factorize(paid["customer"])
    work = pd.DataFrame(
        {
            "code": codes.astype(np.int64),
            "name": name_codes.astype(np.int64),
            "days_to_pay": (paid_on - issued).astype(np.int64),
            "days_late": (paid_on - due).astype(np.int64),
            "disputed": paid["disputed"].to_numpy(dtype=bool),
        }
    )
    with contextlib.closing(duckdb.connect()) as con:
        con.register("paid", work)
        per_customer = con.execute(
            f"SELECT code, mode(name) AS customer, {_FIGURES_SQL} FROM paid WHERE code >= 0 "
            "GROUP BY code ORDER BY code"
        ).df()
        overall_row = con.execute(f"SELECT {_FIGURES_SQL} FROM paid").df()
        con.execute(_DISPUTES_SQL)
        effects = con.execute(
            "SELECT code, median(extra) AS effect FROM disputes GROUP BY code HAVING count(*) >= ?",
            [MIN_DISPUTED],
        ).df()
        overall_effect, disputes = con.execute("SELECT median(extra), count(*) FROM disputes").fetchone()
    effect = float(overall_effect) if disputes >= MIN_DISPUTED else 0.0
    overall = _overall(overall_row.iloc[0], effect)
    own_effect = per_customer["code"].map(effects.set_index("code")["effect"])
    customers = _customer_frame(
        per_customer,
        own_effect,
        np.asarray(key_values, dtype=object),
        np.asarray(names, dtype=object),
        min_samples,
    )
    return BehaviourModel(
        as_of=as_of,
        min_samples=min_samples,
        default_terms=default_terms,
        customers=customers,
        overall=overall,
    )


def _quantiles(column: pd.Series) -> np.ndarray:
    """A column of 3-quantile lists (or NULL) as an (n, 3) float array."""
    return np.asarray(
        [q if isinstance(q, (list, np.ndarray)) and len(q) == 3 else [np.nan] * 3 for q in column],
        dtype=np.float64,
    ).reshape(len(column), 3)


def _overall(row: pd.Series, dispute_effect: float) -> Figures:
    pay = _quantiles(pd.Series([row["pay"]]))[0]
    late = _quantiles(pd.Series([row["late"]]))[0]
    median_late = late[1]
    return Figures(
        invoices=int(row["invoices"]),
        median_days_to_pay=float(pay[1]),
        p10_days_to_pay=float(pay[0]),
        p90_days_to_pay=float(pay[2]),
        median_days_late=float(median_late),
        p10_days_late=float(late[0]),
        p90_days_late=float(late[2]),
        share_late=float(row["share_late"]) if pd.notna(row["share_late"]) else np.nan,
        dispute_effect_days=dispute_effect,
    )


def _customer_frame(
    rows: pd.DataFrame, effect: pd.Series, keys: np.ndarray, names: np.ndarray, min_samples: int
) -> pd.DataFrame:
    """One row per customer key; ``customer`` is the name its invoices use most."""
    pay, late = _quantiles(rows["pay"]), _quantiles(rows["late"])
    disputed = rows["disputed"].to_numpy(dtype=np.int64)
    frame = pd.DataFrame(
        {
            "customer": names[rows["customer"].to_numpy(dtype=np.int64)],
            "invoices": rows["invoices"].to_numpy(dtype=np.int64),
            "undisputed": rows["undisputed"].to_numpy(dtype=np.int64),
            "disputed": disputed,
            "median_days_to_pay": pay[:, 1],
            "p10_days_to_pay": pay[:, 0],
            "p90_days_to_pay": pay[:, 2],
            "median_days_late": late[:, 1],
            "p10_days_late": late[:, 0],
            "p90_days_late": late[:, 2],
            "share_late": rows["share_late"].to_numpy(dtype=np.float64, na_value=np.nan),
            "dispute_effect_days": effect.to_numpy(dtype=np.float64, na_value=np.nan),
        },
        index=pd.Index(keys[rows["code"].to_numpy(dtype=np.int64)], name="key", dtype=object),
    )
    frame["source"] = np.where(frame["undisputed"] >= min_samples, "learned", "fallback")
    return frame
