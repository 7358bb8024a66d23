"""The pipeline and owner filters of a forecast: which deals they keep, and why one keeps none.

Written once in SQL, like the aggregation that uses them: over a prediction frame (the
dashboard) or a DuckDB relation (the command line).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from core.cashflow import sql
from core.cashflow.sql import Source, literal

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

#: A pipeline or owner filter: no name (no filter), one name, or several (a deal matching any).
Names = str | Sequence[str] | None


def chosen(names: Names) -> tuple[str, ...]:
    """The names a filter asks for; () when it asks for none."""
    if names is None or isinstance(names, str):
        return (names,) if names else ()
    return tuple(names)


def _among(column: str, names: tuple[str, ...]) -> str:
    """SQL: ``column`` is one of ``names`` (a missing value is not)."""
    return f"coalesce({column} IN ({', '.join(literal(name) for name in names)}), false)"


def _wanted(pipeline: tuple[str, ...], owner: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """The filtered columns and the names each asks for (a column no filter names is left out)."""
    return {column: names for column, names in (("pipeline", pipeline), ("owner", owner)) if names}


def scope_condition(pipeline: tuple[str, ...], owner: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    """SQL of the rows the pipeline and owner filters keep, and the columns it reads."""
    wanted = _wanted(pipeline, owner)
    return " AND ".join(_among(column, names) for column, names in wanted.items()) or "true", tuple(wanted)


def scope_mask(frame: pd.DataFrame, pipeline: Names, owner: Names) -> np.ndarray:
    """Rows the pipeline and owner filters keep (no filter keeps all)."""
    import numpy as np

    condition, columns = scope_condition(chosen(pipeline), chosen(owner))
    if not columns:
        return np.ones(len(frame), dtype=bool)
    kept = f"SELECT {condition} AS kept FROM prediction_rows"
    return sql.arrays(frame, "prediction_rows", columns, kept)["kept"]


def scope_choices(predictions: Source) -> dict[str, list[str]]:
    """The pipelines and owners of the forecast deals, sorted: what the filters can offer."""
    return {column: _names(predictions, column, "kind = 'forecast'") for column in ("pipeline", "owner")}


def _names(predictions: Source, column: str, where: str = "true") -> list[str]:
    """The distinct values of ``column`` (missing left out), sorted."""
    found = sql.rows(
        predictions, "prediction_rows", (column, "kind"),
        f"SELECT DISTINCT {column}::VARCHAR FROM prediction_rows WHERE {column} IS NOT NULL AND {where}",
    )
    return sorted(name for (name,) in found)


#: A warning about a filter no deal matches lists at most this many of the values there are.
SCOPE_VALUES_SHOWN = 10


def _quoted(names: tuple[str, ...]) -> str:
    return " or ".join(repr(name) for name in names)


def scope_warnings(predictions: Source, pipeline: Names, owner: Names) -> list[str]:
    """Why a pipeline or owner filter leaves no deal (the forecast is then empty); [] when some match."""
    pipelines, owners = chosen(pipeline), chosen(owner)
    wanted = _wanted(pipelines, owners)
    if not wanted:
        return []
    condition, columns = scope_condition(pipelines, owners)
    (found,) = sql.rows(
        predictions, "prediction_rows", columns,
        f"SELECT coalesce(bool_or({condition}), false), "
        + ", ".join(f"coalesce(bool_or({_among(column, names)}), false)" for column, names in wanted.items())
        + " FROM prediction_rows",
    )
    if found[0]:
        return []
    warnings = []
    for (column, names), matched in zip(wanted.items(), found[1:], strict=True):
        if not matched:
            known = _names(predictions, column)
            more = len(known) - SCOPE_VALUES_SHOWN
            listed = ", ".join(known[:SCOPE_VALUES_SHOWN]) + (f" and {more} more" if more > 0 else "")
            warnings.append(
                f"No deal has {column} {_quoted(names)}, so the forecast is empty"
                + (f" ({column}s in this forecast: {listed})." if known else ".")
            )
    return warnings or [
        f"No deal has pipeline {_quoted(pipelines)} and owner {_quoted(owners)}, so the forecast is empty."
    ]


def in_scope(frame: pd.DataFrame, pipeline: Names, owner: Names) -> tuple[pd.DataFrame, list[str]]:
    """The rows a pipeline and owner filter keeps (renumbered), and ``scope_warnings`` when it keeps none."""
    scope = scope_mask(frame, pipeline, owner)
    kept = frame if scope.all() else frame[scope].reset_index(drop=True)
    return kept, scope_warnings(frame, pipeline, owner)
