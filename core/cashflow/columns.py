"""Shared pieces of the columnar prediction frame: flag bits, reasoning text, date helpers.

A prediction frame has one row per input deal (``fields.PREDICTION_COLUMNS``). Reasoning and
flags are built columnar: each row carries small integer codes (which invoice rule,
which payment rule, which flags), the distinct combinations are turned into text once,
and the result is a pandas Categorical, so 1M deals cost a few hundred strings.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from core.cashflow.fields import KINDS, PREDICTION_FIELDS, Flag, flag_names


def factorize_ints(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes and distinct values of integer keys, like ``pd.factorize``.

    Keys in a small non-negative range (the codes of reasons and flags) go through a
    table instead of a hash, several times faster on a large frame. Callers must not rely
    on the order of the distinct values."""
    keys = np.asarray(keys, dtype=np.int64)
    if len(keys) == 0 or keys.min() < 0 or keys.max() >= 4 * len(keys) + (1 << 16):
        return pd.factorize(keys)
    seen = np.zeros(int(keys.max()) + 1, dtype=bool)
    seen[keys] = True
    uniques = np.flatnonzero(seen)
    lookup = np.zeros(len(seen), dtype=np.intp)
    lookup[uniques] = np.arange(len(uniques))
    return lookup[keys], uniques


def flags_column(bits: np.ndarray) -> pd.Categorical:
    """Comma-separated flag names per row, as a Categorical built from the distinct bitmasks."""
    codes, uniques = factorize_ints(bits)
    texts = [",".join(flag_names(int(value))) for value in uniques]
    return _categorical(codes, texts)


def compose_reasoning(
    parts: Sequence[pd.Categorical], bits: np.ndarray, flag_text: dict[Flag, str], *, sentence: bool = True
) -> pd.Categorical:
    """Join per-row text parts and flag sentences into one reasoning per row.

    Each part is a Categorical (missing = no text); ``bits`` are the flag bitmasks. Only
    the distinct combinations are joined, so the cost hardly grows with the row count.
    ``sentence`` capitalises and ends each text with a full stop.
    """
    key = np.zeros(len(bits), dtype=np.int64)
    sizes = []
    for part in parts:
        size = len(part.categories) + 1
        key = key * size + (np.asarray(part.codes, dtype=np.int64) + 1)
        sizes.append(size)
    explained = np.int64(sum(int(flag) for flag in flag_text))
    flag_codes, flag_sets = factorize_ints(bits.astype(np.int64) & explained)
    codes, uniques = factorize_ints(key * max(len(flag_sets), 1) + flag_codes)
    texts = []
    for value in uniques.tolist():
        flag_bits, value = int(flag_sets[value % len(flag_sets)]), value // len(flag_sets)
        pieces = []
        for part, size in zip(reversed(parts), reversed(sizes), strict=True):
            code, value = value % size, value // size
            if code:
                pieces.append(str(part.categories[code - 1]))
        pieces.reverse()
        pieces.extend(text for flag, text in flag_text.items() if flag_bits & flag)
        text = "; ".join(pieces)
        texts.append(text[:1].upper() + text[1:] + ("." if text else "") if sentence else text)
    return _categorical(codes, texts)


def text_part(codes: np.ndarray, texts: Sequence[str]) -> pd.Categorical:
    """A Categorical from codes into ``texts`` (code -1 means no text), duplicates merged."""
    return _categorical(np.asarray(codes), list(texts))


def _categorical(codes: np.ndarray, texts: list[str]) -> pd.Categorical:
    unique_texts, remap = (
        np.unique(np.asarray(texts, dtype=object), return_inverse=True) if texts else ([], [])
    )
    # Code -1 stays missing. Codes come out in the small integer type pandas keeps them in,
    # and they are valid by construction, so pandas neither copies nor checks them.
    remap = np.append(remap, -1).astype(np.min_scalar_type(-len(unique_texts) - 1))
    categories = pd.Index(list(unique_texts), dtype="str")
    return pd.Categorical.from_codes(remap[codes], categories=categories, validate=False)


def kind_codes(frame: pd.DataFrame) -> np.ndarray:
    """``kind`` as integer codes (``FORECAST``, ``RECEIVED``, ``NOT_FORECAST``), without text compares."""
    kind = frame["kind"]
    if isinstance(kind.dtype, pd.CategoricalDtype) and list(kind.cat.categories) == list(KINDS):
        return kind.cat.codes.to_numpy()
    return pd.Categorical(kind, categories=list(KINDS)).codes


def day_array(column: pd.Series) -> np.ndarray:
    """A date column as ``datetime64[D]`` (NaT for missing), whatever it came in as."""
    return date_array(column).astype("datetime64[D]")


def date_array(column: pd.Series) -> np.ndarray:
    """A canonical date column as ``datetime64[s]`` (NaT for missing), not copied when it is one.

    Canonical dates fall at midnight (core.deals), so whole-day arithmetic can run in
    seconds and skip the casts to and from days."""
    if not pd.api.types.is_datetime64_any_dtype(column):
        column = pd.to_datetime(column, errors="coerce")
    return column.to_numpy(dtype="datetime64[s]")


def as_output_dates(days: np.ndarray) -> np.ndarray:
    """Dates as the canonical ``datetime64[s]`` of core.deals (no copy when they already are)."""
    return days.astype("datetime64[s]", copy=False)


def arrow_table(frame: pd.DataFrame, names: Sequence[str]) -> pa.Table:
    """Columns of a prediction frame as an Arrow table, cheap to write into DuckDB."""
    return pa.table({name: _arrow_column(frame, name) for name in names})


def _arrow_column(frame: pd.DataFrame, name: str) -> pa.Array:
    """One stored field of a prediction frame as Arrow, cheap to write: text as dictionaries
    (each distinct reasoning once), flags as JSON made per distinct set."""
    kind = PREDICTION_FIELDS[name]
    if kind == "DATE":
        return pa.array(date_array(frame[name]))
    if kind == "DOUBLE":
        return pa.array(frame[name].to_numpy(dtype=np.float64, na_value=np.nan), from_pandas=True)
    if kind == "JSON":
        flags = pd.Categorical(frame[name])
        texts = [json.dumps(text.split(",") if text else []) for text in flags.categories]
        return pa.DictionaryArray.from_arrays(pa.array(flags.codes), pa.array(texts))
    if name == "deal_id":  # distinct per deal: a dictionary would only add work
        return pa.array(frame[name].array, type=pa.string())
    return pa.array(pd.Categorical(frame[name]))
