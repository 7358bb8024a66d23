"""A/B outcomes of prompt variants: the one part of the prompt package that touches the store.

Outcomes go to the store's ``prompt_outcomes`` table; a registry without a store keeps them in
a private in-memory DuckDB, so the report is the same SQL either way.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from pydantic import BaseModel, Field

from core.store import Store

_REPORT_SQL = """
SELECT prompt_id, version, coalesce(variant, 'control') AS variant,
       count(*) AS count,
       count(*) FILTER (WHERE success) AS successes,
       avg(CASE WHEN success THEN 1.0 ELSE 0.0 END) AS success_rate,
       avg(confidence) AS avg_confidence,
       avg(total_tokens) AS avg_total_tokens,
       sum(cost_usd) AS total_cost_usd,
       avg(cost_usd) AS avg_cost_usd,
       avg(latency_ms) AS avg_latency_ms
FROM prompt_outcomes
WHERE ($prompt_id IS NULL OR prompt_id = $prompt_id) AND ($version IS NULL OR version = $version)
GROUP BY ALL
ORDER BY prompt_id, version, variant
"""

VariantKey = tuple[str, str, str]  # (prompt id, version, variant)


class VariantSummary(BaseModel):
    """Recorded outcomes of one prompt version's variant, for comparing A/B variants."""

    prompt_id: str
    version: str
    variant: str
    weight: float | None = Field(description="current weight; None when the variant is no longer loaded")
    count: int = 0
    successes: int = 0
    success_rate: float | None = None
    avg_confidence: float | None = None
    avg_total_tokens: float | None = None
    total_cost_usd: float | None = None
    avg_cost_usd: float | None = None
    avg_latency_ms: float | None = None


class OutcomeLog:
    """Where a registry records outcomes: ``store``, or a private in-memory DuckDB opened on first use."""

    def __init__(self, store: Store | None = None) -> None:
        self._store = store
        self._lock = threading.Lock()

    def _target(self) -> Store:
        with self._lock:
            if self._store is None:
                self._store = Store(":memory:")
            return self._store

    def record(
        self,
        key: VariantKey,
        *,
        assignment_key: str | None,
        success: bool,
        confidence: float | None,
        total_tokens: int | None,
        cost_usd: float | None,
        latency_ms: float | None,
    ) -> None:
        """Store one result of the variant ``key``."""
        self._target().execute(
            """INSERT INTO prompt_outcomes (prompt_id, version, variant, assignment_key, success,
                   confidence, total_tokens, cost_usd, latency_ms)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [*key, assignment_key, bool(success), confidence, total_tokens, cost_usd, latency_ms],
        )

    def summaries(
        self, prompt_id: str | None, version: str | None, weights: Mapping[VariantKey, float]
    ) -> dict[VariantKey, VariantSummary]:
        """Outcomes per variant of ``prompt_id`` (all when None), plus each loaded variant in
        ``weights`` without outcomes, with count 0."""
        rows = self._target().fetchall(_REPORT_SQL, {"prompt_id": prompt_id, "version": version})
        summaries = {
            (row[0], row[1], row[2]): VariantSummary(
                prompt_id=row[0], version=row[1], variant=row[2], weight=weights.get(row[:3]),
                count=row[3], successes=row[4], success_rate=row[5], avg_confidence=row[6],
                avg_total_tokens=row[7], total_cost_usd=row[8], avg_cost_usd=row[9], avg_latency_ms=row[10],
            )
            for row in (tuple(row) for row in rows)
        }
        for key, weight in weights.items():
            summaries.setdefault(key, VariantSummary(
                prompt_id=key[0], version=key[1], variant=key[2], weight=weight,
            ))
        return summaries
