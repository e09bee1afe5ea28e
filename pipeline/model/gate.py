"""The quality gate: whether a candidate model may be published, and why (not).

A candidate must beat the popularity baseline by ``min_lift_over_popular`` (relative) and,
when a version is served, stay within ``max_drop_vs_published`` (relative) of that version
refitted on the same training part; both are measured on the same holdout
(``pipeline.model.evaluate``). Each check is kept with its figures, so the report and the
artifact show what was compared.

Past the headline number (``decide``, thresholds in ``settings.gate``): every slice with at
least ``min_slice_users`` test users must stay within ``max_slice_drop`` of the served version
on that slice (a model a little better on blockbusters can ruin a niche); catalogue coverage
must keep ``min_coverage_ratio`` of the served version's;
and the lists must overlap the served version's by ``min_overlap`` (overlap@k,
``pipeline.model.churn``) when the data changed by at most ``max_data_change``: a refit with
the same parameters is the candidate itself, so only churn sees a data bug that keeps the metric.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from pipeline.model.churn import Churn
from pipeline.model.evaluate import Evaluation
from pipeline.settings import GateSettings, PipelineSettings


class GateCheck(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    value: float
    needed: float
    passed: bool
    detail: str = ""  # the figures behind value and needed, for people


class GateDecision(BaseModel):
    model_config = ConfigDict(frozen=True)

    passed: bool
    reason: str
    checks: list[GateCheck] = Field(default_factory=list)


def decide(
    evaluation: Evaluation, settings: PipelineSettings, served_version: str | None, churn: Churn | None = None
) -> GateDecision:
    """The gate on an evaluation of the candidate (and its churn against the served version, when
    measured), with the thresholds of ``settings``."""
    headline = headline_gate(evaluation, settings, served_version)
    rules = settings.gate
    more = [
        *slice_checks(evaluation, rules, served_version),
        *coverage_checks(evaluation, rules, served_version),
        *([churn_check(churn, rules, served_version)] if churn is not None else []),
    ]
    return combined(headline, more)


def headline_gate(
    evaluation: Evaluation, settings: PipelineSettings, served_version: str | None
) -> GateDecision:
    """The headline checks: NDCG@k over popularity, and within tolerance of the served version."""
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


def combined(headline: GateDecision, more: list[GateCheck]) -> GateDecision:
    """The headline decision with more checks: refused when any fails, each failure in the reason."""
    failed = [f"{c.name}: {c.detail}" for c in more if not c.passed]
    if not failed:
        return headline.model_copy(update={"checks": headline.checks + more})
    reasons = ([] if headline.passed else [headline.reason]) + failed
    return GateDecision(passed=False, reason="; ".join(reasons), checks=headline.checks + more)


def slice_checks(evaluation: Evaluation, rules: GateSettings, served_version: str | None) -> list[GateCheck]:
    """One check per slice with at least ``min_slice_users`` users where the served version was
    measured: the candidate's headline metric within ``max_slice_drop`` (relative) of it."""
    key, checks = evaluation.headline, []
    for name, lists in evaluation.slices.items():
        model, served = lists.get("model"), lists.get("published")
        if model is None or served is None or model["users"] < rules.min_slice_users:
            continue
        needed = served[key] * (1 - rules.max_slice_drop)
        change = model[key] / served[key] - 1 if served[key] > 0 else 0.0
        checks.append(
            GateCheck(
                name=f"slice {name}: within {rules.max_slice_drop:.0%} of served {served_version}",
                value=model[key],
                needed=needed,
                passed=model[key] >= needed,
                detail=f"{int(model['users'])} users, {key} {model[key]:.4f} vs served {served[key]:.4f} "
                f"({change:+.1%}), at least {rules.min_slice_users} users judged",
            )
        )
    return checks


def coverage_checks(
    evaluation: Evaluation, rules: GateSettings, served_version: str | None
) -> list[GateCheck]:
    """Catalogue coverage@k at least ``min_coverage_ratio`` of the served version's (refitted on
    this holdout). With nothing served there is no reference: popularity lists filtered of each
    user's items spread over a small catalogue, and item-kNN reaches far into the tail by design."""
    overall = evaluation.overall
    if "published" not in overall:
        return []
    model, other = overall["model"]["coverage"], overall["published"]["coverage"]
    needed = other * rules.min_coverage_ratio
    label = f"served {served_version}"
    return [
        GateCheck(
            name=f"coverage@{evaluation.k}: at least {rules.min_coverage_ratio:.0%} of {label}",
            value=model,
            needed=needed,
            passed=model >= needed,
            detail=f"{model:.1%} of the catalogue vs {other:.1%} for {label}",
        )
    ]


def churn_check(churn: Churn, rules: GateSettings, served_version: str | None) -> GateCheck:
    """Overlap@k with the served version's lists at least ``min_overlap``, judged only when the data
    changed by at most ``max_data_change`` (a real change of data may change the lists)."""
    judged = churn.data_change <= rules.max_data_change
    name = f"overlap@{churn.k} with served {served_version or ''}".rstrip()
    detail = (
        f"{churn.overlap:.1%} of each list shared on average, {churn.users} users; data changed "
        f"{churn.data_change:.1%} "
        + (
            f"(<= {rules.max_data_change:.0%}: judged)"
            if judged
            else f"(> {rules.max_data_change:.0%}: not judged)"
        )
    )
    return GateCheck(
        name=f"{name}: at least {rules.min_overlap:.0%} while the data changed little",
        value=churn.overlap,
        needed=rules.min_overlap if judged else 0.0,
        passed=churn.overlap >= rules.min_overlap or not judged,
        detail=detail,
    )
