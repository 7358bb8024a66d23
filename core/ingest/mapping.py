"""Which source column feeds each canonical column: the preset's guess, the user's
corrections on top, and a memory of those corrections per header signature.

A mapping is ``{canonical column: source header}``. The user's mapping wins over the
preset's; mapping a canonical column to ``""`` unmaps it. Once a user maps a file, the
mapping is stored under the file's header signature (its normalised, sorted headers) in
the ``column_mappings`` table, and the next file with the same headers reuses it.
"""

from __future__ import annotations

import hashlib
import json

from core.deals import DEAL_COLUMNS
from core.errors import InputError
from core.ingest.presets import Preset, normalise_header
from core.store import Store

#: Canonical columns a user can map (value_base and extra are computed).
MAPPABLE_COLUMNS = tuple(name for name in DEAL_COLUMNS if name not in ("value_base", "extra"))


def header_signature(headers: list[str]) -> str:
    """A stable key for a set of headers: case, spacing and order do not matter."""
    text = "\n".join(sorted(normalise_header(header) for header in headers))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def resolve_mapping(
    preset: Preset,
    headers: list[str],
    user_mapping: dict[str, str] | None,
    file_name: str,
    *,
    columns: tuple[str, ...] = MAPPABLE_COLUMNS,
    kind: str = "a deal",
) -> dict[str, str]:
    """The preset's mapping for ``headers`` with ``user_mapping`` applied on top.

    ``columns`` and ``kind`` ("a deal") name the schema mapped into (invoice lists pass their own)."""
    mapping = preset.resolve(headers)
    for canonical, header in (user_mapping or {}).items():
        if canonical not in columns:
            raise InputError(
                f"{file_name}: cannot map {canonical!r}: it is not {kind} column; "
                f"choose one of {', '.join(columns)}."
            )
        if not header:
            mapping.pop(canonical, None)
            continue
        found = _find_header(header, headers)
        if found is None:
            raise InputError(
                f"{file_name}: cannot map {canonical} to {header!r}: the file has no such column. "
                f"Its columns are: {', '.join(headers)}."
            )
        for other, used in list(mapping.items()):
            if used == found and other != canonical:
                del mapping[other]
        mapping[canonical] = found
    return {name: mapping[name] for name in columns if name in mapping}


def _find_header(name: str, headers: list[str]) -> str | None:
    if name in headers:
        return name
    wanted = normalise_header(name)
    return next((header for header in headers if normalise_header(header) == wanted), None)


def parse_map_options(items: list[str] | None) -> dict[str, str]:
    """``["title=Deal Name", ...]`` (the CLI's ``--map``) -> ``{"title": "Deal Name"}``."""
    mapping: dict[str, str] = {}
    for item in items or []:
        canonical, sep, header = item.partition("=")
        if not sep or not canonical.strip():
            raise InputError(
                f"--map {item!r}: expected canonical=Source Column, e.g. --map title='Deal Name'."
            )
        mapping[canonical.strip()] = header.strip()
    return mapping


def remembered_mapping(store: Store, headers: list[str]) -> tuple[str, dict[str, str]] | None:
    """The (source, mapping) a user saved for files with these headers, if any."""
    rows = (
        store.cursor()
        .execute(
            "SELECT source, mapping FROM column_mappings WHERE header_signature = ?",
            [header_signature(headers)],
        )
        .fetchall()
    )
    return (rows[0][0], json.loads(rows[0][1])) if rows else None


def remember_mapping(store: Store, headers: list[str], source: str, mapping: dict[str, str]) -> None:
    """Save a user's mapping for files with these headers (replacing an older one)."""
    store.cursor().execute(
        "INSERT OR REPLACE INTO column_mappings (header_signature, source, mapping, updated_at) "
        "VALUES (?, ?, ?, current_timestamp)",
        [header_signature(headers), source, json.dumps(mapping)],
    )
