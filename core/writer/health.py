"""Rule-based deal health: days in stage against per-stage thresholds, and communication gaps.

These are the facts of DESIGN section 7. The service computes them for every health
check, with or without an LLM: they are numbers, not opinions, and a model's narrative
is shown beside them, never instead of them.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass

from core.config import PROMPTS_DIR
from core.deals import normalise_stage
from core.writer.models import CommunicationGap, HealthStatus, StageThreshold

#: The thresholds and gap bands, kept as data beside the prompts.
RULES_FILE = PROMPTS_DIR / "rules" / "health.toml"
_RULES = tomllib.loads(RULES_FILE.read_text(encoding="utf-8"))

#: Days in stage at the warning and the critical mark, per stage (as the health prompt shows them).
THRESHOLD_TABLE: tuple[tuple[str, int, int], ...] = tuple(
    (row["stage"], row["warning"], row["critical"]) for row in _RULES["stages"]
)

#: Communication gap bands: below 5 days healthy, 5-10 acceptable, 10-14 warning, over 14 a gap.
GAP_ACCEPTABLE_FROM, GAP_WARNING_FROM, GAP_OVER = (
    _RULES["gap"][name] for name in ("acceptable_from", "warning_from", "gap_over")
)


#: Normalised stage name or alias -> its thresholds. Stages match as the forecast's stage table
#: matches them (``normalise_stage``, then the listed aliases), so both agree on a deal's stage.
STAGE_THRESHOLDS: dict[str, StageThreshold] = {
    normalise_stage(name): StageThreshold(warning=row["warning"], critical=row["critical"])
    for row in _RULES["stages"]
    for name in (row["stage"], *row.get("aliases", ()))
}


def stage_threshold(stage: str | None) -> StageThreshold | None:
    """The stage's thresholds, or None for a stage that has none."""
    return STAGE_THRESHOLDS.get(normalise_stage(stage))


def communication_gap(days_since_last_note: int | None) -> CommunicationGap:
    if days_since_last_note is None:
        return CommunicationGap.UNKNOWN
    if days_since_last_note < GAP_ACCEPTABLE_FROM:
        return CommunicationGap.HEALTHY
    if days_since_last_note < GAP_WARNING_FROM:
        return CommunicationGap.ACCEPTABLE
    if days_since_last_note <= GAP_OVER:
        return CommunicationGap.WARNING
    return CommunicationGap.GAP


@dataclass(frozen=True)
class HealthAssessment:
    """The rule-based verdict and the facts behind it."""

    status: HealthStatus
    stage_status: HealthStatus | None  # None when the stage has no thresholds or days are unknown
    threshold: StageThreshold | None
    gap: CommunicationGap


def assess_health(
    stage: str | None, days_in_stage: int | None, days_since_last_note: int | None
) -> HealthAssessment:
    """The worse of the stage verdict (days in stage at or past the warning or critical
    mark) and the communication verdict (a warning or a gap puts a deal at risk)."""
    threshold = stage_threshold(stage)
    gap = communication_gap(days_since_last_note)
    stage_status = None
    if threshold is not None and days_in_stage is not None:
        if days_in_stage >= threshold.critical:
            stage_status = HealthStatus.CRITICAL
        elif days_in_stage >= threshold.warning:
            stage_status = HealthStatus.AT_RISK
        else:
            stage_status = HealthStatus.HEALTHY
    status = stage_status or HealthStatus.HEALTHY
    if gap in (CommunicationGap.WARNING, CommunicationGap.GAP) and status is HealthStatus.HEALTHY:
        status = HealthStatus.AT_RISK
    return HealthAssessment(status=status, stage_status=stage_status, threshold=threshold, gap=gap)
