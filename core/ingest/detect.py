"""Which CRM a file came from, decided from its headers, with the evidence."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel

from core.ingest.presets import PRESETS, Preset, normalise_header

#: A preset needs at least this many of its signature headers to be chosen.
MIN_EVIDENCE = 2


class Detection(BaseModel):
    """The chosen preset, the headers that point to it, and every preset's score."""

    source: str
    evidence: list[str]
    scores: dict[str, int]


def detect_source(headers: list[str], presets: Mapping[str, Preset] = PRESETS) -> Detection:
    """Pick the preset whose signature headers the file carries most; else ``generic``.

    ``presets`` defaults to the deal presets; invoice lists pass their own."""
    normalised = {normalise_header(h): h for h in headers}
    scores: dict[str, int] = {}
    evidence: dict[str, list[str]] = {}
    for preset in presets.values():
        matched = _matching_headers(preset, normalised)
        scores[preset.name] = len(matched)
        evidence[preset.name] = matched
    best = max(scores, key=lambda name: scores[name])
    if scores[best] < MIN_EVIDENCE:
        return Detection(source="generic", evidence=[], scores=scores)
    return Detection(source=best, evidence=evidence[best], scores=scores)


def _matching_headers(preset: Preset, normalised: dict[str, str]) -> list[str]:
    signature = {normalise_header(h) for h in preset.signature}
    matched = [header for norm, header in normalised.items() if norm in signature]
    if preset.prefix:
        matched += [
            header
            for norm, header in normalised.items()
            if norm.startswith(preset.prefix) and norm not in signature
        ]
    return matched
