"""A drift report as HTML: the summary table, one card per feature, a whole page.

Used by ``otel-ml drift --html`` and the demo; :func:`drift_table` and
:func:`feature_cards` also fit into other pages (the evaluator's), which pass the
window's sketches as plain mappings.

Examples
--------
>>> import numpy as np
>>> from otel_ml.sketch import Profile
>>> from otel_ml.stats import compare
>>> rng = np.random.default_rng(0)
>>> ref = Profile.from_data({"x": rng.normal(0, 1, 5000), "c": rng.choice(["a", "b"], 5000)})
>>> cur = Profile.from_data({"x": rng.normal(1, 1, 2000), "c": rng.choice(["a", "b"], 2000)})
>>> html = drift_page(compare(ref, cur), ref, cur, subtitle="train.csv vs today.csv")
>>> html.count("<svg"), html.count('class="card alert"'), html.count('class="card ok"')
(2, 1, 1)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from otel_ml.report._charts import distribution_chart
from otel_ml.report._estimated import estimated_performance_block
from otel_ml.report._markup import (
    Markup,
    Status,
    badge,
    card,
    details,
    escape,
    format_number,
    grid,
    key_values,
    page,
    paragraph,
    section,
    table,
)
from otel_ml.report._multivariate_card import multivariate_card
from otel_ml.sketch import CategoricalSketch, NumericSketch, Profile
from otel_ml.stats import DriftPolicy, DriftReport, FeatureDrift, Grade

__all__ = [
    "drift_page",
    "drift_status",
    "drift_table",
    "feature_cards",
    "ordered_features",
    "too_few_rows",
]

Sketch = NumericSketch | CategoricalSketch


def drift_status(fd: FeatureDrift, policy: DriftPolicy | None = None) -> tuple[Status, str]:
    """The colour and the one-word verdict of a feature.

    ``drift`` (red) when the policy says so; ``few rows`` (grey) below the
    policy's ``min_rows``; ``watch`` (amber) when the effect size reached its
    threshold and the test is significant at ``alpha`` before the correction for
    the number of features (so likely real, not yet proven); ``minor`` (amber) for
    the graded verdict ``minor`` (significant after the correction, effect below the
    threshold: certain but small); else ``ok`` (green).
    """
    policy = policy or DriftPolicy()
    if fd.drifted:
        return Status.ALERT, "drift"
    if min(fd.n_current, fd.n_reference) < policy.min_rows:
        return Status.NEUTRAL, "few rows"
    if fd.statistic >= fd.threshold and fd.p_value < policy.alpha:
        return Status.WARNING, "watch"
    if fd.verdict is Grade.MINOR:
        return Status.WARNING, "minor"
    return Status.OK, "ok"


def _missing(sketch: Sketch) -> str:
    """Share of missing (and, for numbers, non-finite) values, as text."""
    if not sketch.total:
        return "–"
    if isinstance(sketch, NumericSketch):
        text = f"{sketch.nan_count / sketch.total:.1%}"
        if sketch.non_finite_count:
            text += f" (+{sketch.non_finite_count / sketch.total:.1%} ±inf)"
        return text
    return f"{sketch.missing_count / sketch.total:.1%}"


def too_few_rows(report: DriftReport) -> list[str]:
    """Features not drifted only because a side had fewer than the policy's ``min_rows``."""
    return [
        fd.feature for fd in report.features if drift_status(fd, report.policy)[0] is Status.NEUTRAL
    ]


def ordered_features(features: tuple[FeatureDrift, ...]) -> list[FeatureDrift]:
    """Drifted first, then by effect size relative to its threshold."""

    def key(fd: FeatureDrift) -> tuple[bool, float]:
        ratio = fd.statistic / fd.threshold if fd.threshold > 0 else fd.statistic
        return (not fd.drifted, -ratio)

    return sorted(features, key=key)


def drift_table(report: DriftReport, *, predictions: bool = False) -> Markup:
    """One row per feature (or prediction output): statistic, threshold, test, rows, verdict."""
    rows = []
    status = []
    for fd in ordered_features(report.predictions if predictions else report.features):
        st, word = drift_status(fd, report.policy)
        rows.append(
            [
                fd.feature,
                fd.kind.value,
                fd.method,
                fd.statistic,
                fd.threshold,
                f"{fd.test} p={format_number(fd.p_value)}",
                fd.n_reference,
                fd.n_current,
                badge(word, st),
            ]
        )
        status.append(st)
    header = ["output" if predictions else "feature", "kind", "effect size", "value"]
    header += ["threshold", "test", "rows (ref)", "rows (current)", "verdict"]
    return table(header, rows, status=status)


def feature_cards(
    report: DriftReport,
    reference: Mapping[str, Sketch],
    current: Mapping[str, Sketch],
    *,
    predictions: bool = False,
    labels: tuple[str, str] = ("reference", "current"),
) -> Markup:
    """A card per feature: verdict, overlaid distributions, every statistic, the reason."""
    cards = []
    for fd in ordered_features(report.predictions if predictions else report.features):
        st, word = drift_status(fd, report.policy)
        body = [paragraph(Markup(f"{badge(word, st)} {escape(fd.reason)}"))]
        ref, cur = reference.get(fd.feature), current.get(fd.feature)
        if ref is not None and cur is not None and type(ref) is type(cur):
            body.append(distribution_chart(ref, cur, labels=labels))
        stats: list[tuple[str, object]] = [
            (f"{fd.method} (effect)", fd.statistic),
            ("threshold", fd.threshold),
            (f"{fd.test} p-value", fd.p_value),
            ("rows: reference / current", f"{fd.n_reference:,} / {fd.n_current:,}"),
        ]
        if ref is not None and cur is not None:
            stats.append(("missing: reference / current", f"{_missing(ref)} / {_missing(cur)}"))
        body.append(key_values(stats))
        # The other statistics (PSI, KS, ...) fold away: the verdict's own come first.
        shown = {fd.method, f"{fd.test}_p_value"}
        more = [(k, v) for k, v in fd.statistics.items() if k not in shown]
        if more:
            body.append(details(f"all statistics ({len(more)} more)", key_values(more)))
        cards.append(card(fd.feature, *body, status=st))
    return grid(cards)


def drift_page(
    report: DriftReport,
    reference: Profile,
    current: Profile,
    *,
    title: str = "Drift report",
    subtitle: str | None = None,
    labels: tuple[str, str] = ("reference", "current"),
    intro: Sequence[Markup] = (),
    current_errors: NumericSketch | None = None,
) -> str:
    """A complete, self-contained HTML page for a :class:`~otel_ml.stats.DriftReport`.

    ``intro`` blocks (e.g. :func:`~otel_ml.report.section` s describing the run)
    come before the summary. ``current_errors`` (the current rows' reconstruction
    errors) draws the multivariate card's distributions.
    """
    n = len(report.features)
    pol = report.policy
    few = too_few_rows(report)
    mv = report.multivariate
    if report.drifted:
        text = f"{report.n_drifted} of {n} features drifted"
        if mv is not None and mv.drifted:
            text += ", and the multivariate check"
        verdict = badge(text, Status.ALERT)
    elif few:  # "no drift" would claim more than the data can tell
        verdict = badge(
            f"no drift found; {len(few)} of {n} features had too few rows to judge",
            Status.NEUTRAL,
        )
    else:
        verdict = badge(f"no drift in {n} features", Status.OK)
    summary = [
        paragraph(verdict),
        key_values(
            [
                (f"rows ({labels[0]})", f"{reference.n_rows:,}"),
                (f"rows ({labels[1]})", f"{current.n_rows:,}"),
                ("numeric effect size", f"{pol.numeric_effect} ≥ {pol.numeric_threshold:g}"),
                (
                    "categorical effect size",
                    f"{pol.categorical_effect} ≥ {pol.categorical_threshold:g}",
                ),
                ("significance", f"α = {pol.alpha:g}, {pol.correction.value} correction"),
                ("minimum rows", pol.min_rows),
            ]
        ),
    ]
    if few:
        summary.append(
            paragraph(
                f"Too few rows to judge (fewer than {pol.min_rows:,} on a side, or every value "
                f"missing): {', '.join(few)}. Their 'no drift' is no evidence either way."
            )
        )
    if report.missing_features:
        summary.append(
            paragraph(f"Missing from the {labels[1]} data: {', '.join(report.missing_features)}")
        )
    if report.extra_features:
        summary.append(
            paragraph(
                f"Not in the {labels[0]} (not compared): {', '.join(report.extra_features)}",
                muted=True,
            )
        )
    ref_sk = {k: f.sketch for k, f in reference.features.items()}
    cur_sk = {k: f.sketch for k, f in current.features.items()}
    blocks = [
        *intro,
        section("Summary", *summary, drift_table(report)),
        section("Features", feature_cards(report, ref_sk, cur_sk, labels=labels)),
    ]
    if mv is not None:
        ref_errors = reference.multivariate.reference_errors if reference.multivariate else None
        card = multivariate_card(
            mv,
            min_rows=pol.min_rows,
            reference_errors=ref_errors,
            current_errors=current_errors,
            labels=labels,
        )
        blocks.insert(len(intro) + 1, section("Multivariate", card))
    est = report.estimated_performance
    if est is not None:
        blocks.append(section("Estimated performance", estimated_performance_block(est)))
    if report.predictions:
        pref = {k: f.sketch for k, f in reference.predictions.items()}
        pcur = {k: f.sketch for k, f in current.predictions.items()}
        blocks.append(
            section(
                "Model outputs",
                paragraph("Not part of the overall verdict.", muted=True),
                drift_table(report, predictions=True),
                feature_cards(report, pref, pcur, predictions=True, labels=labels),
            )
        )
    return page(
        title,
        *blocks,
        subtitle=subtitle,
        footer="Generated by otel-ml. Distributions are re-binned from the sketches "
        "(exponential buckets) onto a linear axis between the 0.5 % and 99.5 % quantiles "
        "(a log axis for positive values spanning three decades or more).",
    )
