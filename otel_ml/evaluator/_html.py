"""The evaluator's HTML page for one model, built from :mod:`otel_ml.report`'s blocks.

The drift part is the same as ``otel-ml drift --html``'s (:func:`~otel_ml.report.drift_table`
and :func:`~otel_ml.report.feature_cards` over :meth:`ModelReport.drift_report`); the
evaluator adds its own sections: the window, firing alerts, features without a verdict,
quality rates, performance and operations over the recent windows. Self-contained: no
script, no network; every name (model, feature, category, alert) is escaped by the blocks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from otel_ml import semconv as sc
from otel_ml.evaluator._evaluate import Reference
from otel_ml.evaluator._report import FoundChange, ModelReport
from otel_ml.evaluator._windows import WindowData
from otel_ml.report import (
    Band,
    Marker,
    Markup,
    Series,
    Status,
    drift_table,
    estimated_performance_block,
    feature_cards,
    key_values,
    line_chart,
    multivariate_card,
    ordered_features,
    page,
    paragraph,
    section,
    table,
)
from otel_ml.sketch import CategoricalSketch, NumericSketch
from otel_ml.stats import DriftPolicy

__all__ = ["model_page"]

_MAX_PLOTS = 24
#: Rows of one table on the page (drifted first); the rest are counted, and in the JSON report.
MAX_ROWS = 100
_MAX_PERFORMANCE_LINES = 6


def _time(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _hhmm(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%H:%M")


def _nan(x: float | None) -> float:
    return math.nan if x is None else float(x)


def _window(r: ModelReport) -> Markup:
    return section(
        "Window",
        key_values(
            {
                "model": r.model,
                "version": r.version or "–",
                "window": f"{_time(r.window_start)} – {_hhmm(r.window_end)}",
                "rows": r.n_rows,
                "reference": r.reference or "none (no drift verdicts)",
                "drifted features": ", ".join(r.drifted_features) or "none",
                "minor shifts": ", ".join(r.minor_features) or "none",
                "example traces": ", ".join(r.trace_ids[:5]) or "–",
            }
        ),
    )


def _alerts(alerts: Sequence[Mapping[str, Any]]) -> Markup:
    rows = [
        [a.get("rule", ""), a.get("state", ""), a.get("value"), a.get("summary", "")]
        for a in alerts
    ]
    return section(
        "Alerts",
        table(["rule", "state", "value", "summary"], rows, status=[Status.ALERT] * len(rows)),
    )


def _multivariate_history(history: Sequence[ModelReport]) -> list[Markup]:
    """The multivariate check's effect size by window, the latest threshold as a line and
    the windows it drifted in shaded (nothing before two windows have a verdict)."""
    verdicts = [h.multivariate for h in history]
    judged = [mv for mv in verdicts if mv is not None]
    if len(judged) < 2:
        return []
    latest = judged[-1]
    series = Series(
        f"effect size ({latest.effect})",
        [h.window_end for h in history],
        [math.nan if mv is None else mv.statistic for mv in verdicts],
    )
    markers = [Marker(latest.threshold, "threshold", axis="y")]
    bands = [
        Band(h.window_start, h.window_end, "drifted")
        for h, mv in zip(history, verdicts, strict=True)
        if mv is not None and mv.drifted
    ]
    return [
        line_chart(
            [series],
            title="multivariate check by window (shaded: drifted)",
            x_format=_hhmm,
            markers=markers,
            bands=bands,
        )
    ]


def _drift(
    r: ModelReport,
    window: WindowData,
    reference: Reference | None,
    policy: DriftPolicy,
    history: Sequence[ModelReport] = (),
) -> list[Markup]:
    """The drift table and cards of ``otel-ml drift --html``, and what got no verdict."""
    report = r.drift_report(policy)
    drift: list[Markup] = []
    if report.features:
        ordered = ordered_features(report.features)
        drift.append(drift_table(replace(report, features=tuple(ordered[:MAX_ROWS]))))
        drift += _more(len(ordered) - MAX_ROWS, "features", r.model)
    unjudged = [f for f in (*r.features, *r.predictions) if f.drift is None]
    if unjudged:
        drift.append(
            table(
                ["no verdict", "kind", "rows", "why"],
                [[f.name, f.kind.value, f.n, f.reason] for f in unjudged[:MAX_ROWS]],
                status=[Status.NEUTRAL] * len(unjudged[:MAX_ROWS]),
            )
        )
        drift += _more(len(unjudged) - MAX_ROWS, "features without a verdict", r.model)
    blocks = [section("Drift", *drift or [paragraph("no features in this window", muted=True)])]
    mv = r.multivariate
    if mv is not None:
        model = reference.profile.multivariate if reference is not None else None
        errors = window.numeric.get(sc.MULTIVARIATE_ERROR_FEATURE)
        card = multivariate_card(
            mv,
            min_rows=policy.min_rows,
            reference_errors=model.reference_errors if model is not None else None,
            current_errors=errors,
            labels=("reference", "window"),
        )
        blocks.append(section("Multivariate drift", card, *_multivariate_history(history)))
    if report.predictions:
        blocks.append(
            section(
                "Model outputs",
                paragraph("Not part of the drifted features.", muted=True),
                drift_table(report, predictions=True),
            )
        )
    if reference is not None and report.features:
        shown = replace(report, features=tuple(ordered_features(report.features)[:_MAX_PLOTS]))
        ref_sketches = {k: f.sketch for k, f in reference.profile.features.items()}
        cur_sketches: dict[str, NumericSketch | CategoricalSketch] = {
            **window.categorical,
            **window.numeric,
        }
        cards = feature_cards(shown, ref_sketches, cur_sketches, labels=("reference", "window"))
        blocks.append(section("Distributions (reference vs window)", cards))
    return blocks


def _more(hidden: int, what: str, model: str) -> list[Markup]:
    """The line that says how many rows a bounded table left out, and where they are."""
    if hidden <= 0:
        return []
    return [
        paragraph(
            f"{hidden:,} more {what} not shown (the first {MAX_ROWS} are); all of them are "
            f"in /api/models/{model}/report",
            muted=True,
        )
    ]


def _quality(r: ModelReport) -> Markup:
    def high(q: Any) -> bool:
        return bool(q.rate > (q.reference_rate or 0.0) + 0.01)

    shown = list(r.quality)
    if len(shown) > MAX_ROWS:  # the rates above the reference first
        shown = sorted(shown, key=lambda q: (not high(q), -q.rate))[:MAX_ROWS]
    return section(
        "Data quality",
        table(
            ["feature", "issue", "count", "rate", "reference rate"],
            [[q.feature or "(row)", q.issue, q.count, q.rate, q.reference_rate] for q in shown],
            status=[Status.WARNING if high(q) else None for q in shown],
        ),
        *_more(len(r.quality) - MAX_ROWS, "quality rows", r.model),
    )


def _change_markers(changes: Sequence[FoundChange], x0: float, x1: float) -> list[Marker]:
    """A vertical line at the estimated start of each rise of the error in the chart's span."""
    out = []
    for f in changes:
        c = f.change
        if c.rising and c.start_time is not None and x0 <= c.start_time <= x1:
            out.append(Marker(c.start_time, f"change ({c.detector})"))
    return out


def _changes(changes: Sequence[FoundChange]) -> Markup:
    rows = [
        [
            f.version,
            f.change.detector,
            f.change.direction,
            _time(f.change.start_time) if f.change.start_time is not None else "",
            _time(f.change.time) if f.change.time is not None else "",
            f.change.delay,
            f"{f.change.mean_before:.4g} → {f.change.mean_after:.4g}",
        ]
        for f in changes[:MAX_ROWS]
    ]
    return table(
        ["version", "detector", "direction", "estimated start", "found at", "delay (predictions)",
         "mean error"],
        rows,
        caption="Changes of the per-prediction error found by the change detectors "
        "(prediction times; the chart marks the estimated start of each rise)",
    )


def _performance(
    r: ModelReport, history: Sequence[ModelReport], changes: Sequence[FoundChange] = ()
) -> Markup:
    perf = r.performance
    blocks: list[Markup] = []
    if perf is not None:
        summary: dict[str, object] = {
            "task": perf.task,
            "labelled": perf.n_labelled,
            "predicted": perf.n_predicted,
            "label coverage": perf.coverage,
            "label delay p50 (s)": perf.delay_p50,
        }
        if perf.n_dropped:  # the SDK's event byte budget was spent
            summary["predictions dropped by the SDK"] = perf.n_dropped
            summary["labels of dropped predictions"] = perf.n_labels_dropped
        blocks.append(key_values({**summary, **perf.values()}))
    names = sorted({k for h in history if h.performance for k in h.performance.values()})
    if names and len(history) > 1:
        xs = [h.window_end for h in history]
        series = [
            Series(
                n,
                xs,
                [
                    _nan(h.performance.values().get(n)) if h.performance else math.nan
                    for h in history
                ],
            )
            for n in names[:_MAX_PERFORMANCE_LINES]
        ]
        markers = _change_markers(changes, min(xs) - (r.window_end - r.window_start), max(xs))
        blocks.append(
            line_chart(series, title="performance by window", x_format=_hhmm, markers=markers)
        )
    if changes:
        blocks.append(_changes(changes))
    blocks += _estimated(r, history)
    if not blocks:
        return section("Performance", paragraph("no labels yet", muted=True))
    if perf is None:
        return section("Performance (estimated from the scores; no labels yet)", *blocks)
    return section("Performance (labels joined by prediction time)", *blocks)


def _estimated(r: ModelReport, history: Sequence[ModelReport]) -> list[Markup]:
    """The estimate from the scores (CBPE) next to the realised accuracy once labels come."""
    blocks: list[Markup] = []
    if r.estimated is not None:
        blocks.append(estimated_performance_block(r.estimated))
    if len(history) > 1 and any(h.estimated is not None for h in history):
        xs = [h.window_end for h in history]

        def est(h: ModelReport, part: str) -> float:
            return math.nan if h.estimated is None else float(getattr(h.estimated.accuracy, part))

        def realised(h: ModelReport) -> float:
            return _nan(h.performance.values().get("accuracy")) if h.performance else math.nan

        series = [
            Series("accuracy (realised, labels)", xs, [realised(h) for h in history]),
            Series("accuracy (estimated, scores)", xs, [est(h, "value") for h in history]),
            Series("band low", xs, [est(h, "lower") for h in history], dashed=True),
            Series("band high", xs, [est(h, "upper") for h in history], dashed=True),
        ]
        blocks.append(
            line_chart(series, title="estimated and realised accuracy by window", x_format=_hhmm)
        )
    return blocks


def _operations(r: ModelReport, history: Sequence[ModelReport]) -> Markup:
    ops = r.operations
    blocks: list[Markup] = [
        key_values(
            {
                "calls": ops.calls,
                "rows": ops.rows,
                "error rate": ops.error_rate,
                "latency p50 (s)": ops.latency_p50,
                "latency p95 (s)": ops.latency_p95,
            }
        )
    ]
    if len(history) > 1:
        p95 = [_nan(h.operations.latency_p95) for h in history]
        blocks.append(
            line_chart(
                [Series("latency p95 (s)", [h.window_end for h in history], p95)],
                title="latency p95 by window",
                x_format=_hhmm,
            )
        )
    return section("Operations", *blocks)


def _quarantined(windows: Sequence[tuple[float, float, str, str]]) -> Markup:
    return section(
        "Quarantined windows (not evaluated)",
        table(
            ["window", "version", "reason"],
            [
                [f"{_time(start)} – {_hhmm(end)}", version or "–", why]
                for start, end, version, why in windows
            ],
            status=[Status.WARNING for _ in windows],
        ),
    )


def model_page(
    reports: Sequence[ModelReport],
    window: WindowData,
    reference: Reference | None,
    alerts: Sequence[Mapping[str, Any]],
    policy: DriftPolicy | None = None,
    *,
    quarantined: Sequence[tuple[float, float, str, str]] = (),
    changes: Sequence[FoundChange] = (),
) -> str:
    """The page of ``reports[0]`` (the latest) with the history of ``reports``.

    ``policy`` is the one the verdicts were made with (it colours the "watch" and
    "few rows" verdicts; default :class:`~otel_ml.stats.DriftPolicy`).
    ``quarantined``: ``(start, end, version, reason)`` of the model's windows that could
    not be evaluated (set aside by the service), listed in their own section.
    ``changes``: the changes the detectors found on the model's error stream, newest
    first (listed under Performance; rises marked on its chart).
    """
    r = reports[0]
    history = list(reversed(reports))
    blocks = [_window(r)]
    if alerts:
        blocks.append(_alerts(alerts))
    if quarantined:
        blocks.append(_quarantined(quarantined))
    blocks += _drift(r, window, reference, policy or DriftPolicy(), history)
    if r.quality:
        blocks.append(_quality(r))
    blocks.append(_performance(r, history, changes))
    blocks.append(_operations(r, history))
    return page(
        f"{r.model} — otel-ml evaluator",
        *blocks,
        subtitle=f"latest window ending {_time(r.window_end)}",
        footer="otel-ml evaluator",
    )
