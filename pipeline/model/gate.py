"""The quality gate: whether a candidate model may be published, and why (not).

A candidate must beat the popularity baseline by ``min_lift_over_popular`` (relative) and,
when a version is served, stay within ``max_drop_vs_published`` (relative) of that version
refitted on the same training part; both are measured on the same holdout
(``pipeline.model.evaluate``). Each check is kept with its figures, so the report and the
artifact show what was compared.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from pipeline.model.evaluate import Evaluation
from pipeline.settings import PipelineSettings


class GateCheck(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    value: float
    needed: float
    passed: bool


class GateDecision(BaseModel):
    model_config = ConfigDict(frozen=True)

    passed: bool
    reason: str
    checks: list[GateCheck] = Field(default_factory=list)


def decide(evaluation: Evaluation, settings: PipelineSettings, served_version: str | None) -> GateDecision:
    """The gate on an evaluation of the candidate, with the thresholds of ``settings``."""
    overall = evaluation.overall
    return quality_gate(
        overall["model"],
        overall["popular"],
        evaluation.k,
        settings.min_lift_over_popular,
        published=overall.get("published"),
        tolerance=settings.max_drop_vs_published,
        published_version=served_version,
    )


def quality_gate(
    model: dict[str, float],
    baseline: dict[str, float],
    k: int,
    min_lift: float,
    published: dict[str, float] | None = None,
    tolerance: float = 0.0,
    published_version: str | None = None,
) -> GateDecision:
    """Publish only a model whose NDCG@k beats the popularity baseline by ``min_lift`` (relative)
    and, when a version is published, is not below that version's NDCG@k by more than
    ``tolerance`` (relative), both measured on the same holdout."""
    key = f"ndcg@{k}"
    checks = [
        GateCheck(
            name=f"beats popular by {min_lift:.0%}",
            value=model[key],
            needed=baseline[key] * (1 + min_lift),
            passed=model[key] > baseline[key] * (1 + min_lift),
        )
    ]
    if published is not None:
        needed = published[key] * (1 - tolerance)
        checks.append(
            GateCheck(
                name=f"within {tolerance:.0%} of published {published_version or ''}".rstrip(),
                value=model[key],
                needed=needed,
                passed=model[key] >= needed,
            )
        )
    failed = [c for c in checks if not c.passed]
    if not failed:
        parts = [f"popular {baseline[key]:.4f} x {1 + min_lift:.2f}"]
        if published is not None:
            parts.append(f"published {published_version} {published[key]:.4f} x {1 - tolerance:.2f}")
        reason = f"{key} {model[key]:.4f} passes: > {' and >= '.join(parts)}"
        return GateDecision(passed=True, reason=reason, checks=checks)
    reasons = []
    for check in failed:
        if check.name.startswith("beats popular"):
            reasons.append(
                f"{key} {model[key]:.4f} does not beat the popularity baseline {baseline[key]:.4f} "
                f"by the required {min_lift:.0%}"
            )
        elif published is not None:
            reasons.append(
                f"{key} {model[key]:.4f} is more than {tolerance:.0%} below the published version "
                f"{published_version} ({published[key]:.4f}) on the same holdout"
            )
    return GateDecision(passed=False, reason="; ".join(reasons), checks=checks)
