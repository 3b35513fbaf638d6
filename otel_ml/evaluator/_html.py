"""The evaluator's HTML page for one model, built with the shared SVG toolkit
(:mod:`otel_ml.report`): latest window summary, drift table, distribution plots
(reference vs current, from the sketches), quality rates, performance and
operations over the recent windows. Self-contained: no script, no network.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from otel_ml.evaluator._evaluate import Reference
from otel_ml.evaluator._report import ModelReport
from otel_ml.evaluator._windows import WindowData
from otel_ml.report import (
    Markup,
    Series,
    Status,
    badge,
    card,
    distribution_chart,
    grid,
    key_values,
    line_chart,
    page,
    paragraph,
    section,
    table,
)
from otel_ml.sketch import CategoricalSketch, NumericSketch

__all__ = ["model_page"]

_MAX_PLOTS = 24


def _time(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _hhmm(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%H:%M")


def _nan(x: float | None) -> float:
    return math.nan if x is None else float(x)


def model_page(
    reports: Sequence[ModelReport],
    window: WindowData,
    reference: Reference | None,
    alerts: Sequence[Mapping[str, Any]],
) -> str:
    """The page of ``reports[0]`` (the latest) with the history of ``reports``."""
    r = reports[0]
    blocks: list[Markup] = []
    blocks.append(
        section(
            "Window",
            key_values(
                {
                    "model": r.model,
                    "version": r.version or "–",
                    "window": f"{_time(r.window_start)} – {_hhmm(r.window_end)}",
                    "rows": r.n_rows,
                    "reference": r.reference or "none (no drift verdicts)",
                    "drifted features": ", ".join(r.drifted_features) or "none",
                    "example traces": ", ".join(r.trace_ids[:5]) or "–",
                }
            ),
        )
    )
    if alerts:
        blocks.append(
            section(
                "Alerts",
                table(
                    ["rule", "state", "value", "summary"],
                    [
                        [
                            a.get("rule", ""),
                            a.get("state", ""),
                            a.get("value"),
                            a.get("summary", ""),
                        ]
                        for a in alerts
                    ],
                    status=[Status.ALERT for _ in alerts],
                ),
            )
        )
    rows, status = [], []
    for f in (*r.features, *r.predictions):
        d = f.drift
        verdict = (
            badge("drift", Status.ALERT)
            if d is not None and d.drifted
            else badge("ok", Status.OK)
            if d is not None
            else badge("–", Status.NEUTRAL)
        )
        rows.append(
            [
                f.name,
                f.kind,
                f.n,
                d.method if d else "–",
                d.statistic if d else None,
                d.p_value if d else None,
                verdict,
                d.reason if d else f.reason,
            ]
        )
        status.append(Status.ALERT if d is not None and d.drifted else None)
    blocks.append(
        section(
            "Drift",
            table(
                ["feature", "kind", "rows", "method", "statistic", "p-value", "verdict", "why"],
                rows,
                status=status,
            ),
        )
    )
    if reference is not None:
        plots = []
        prof = reference.profile
        cur: dict[str, NumericSketch | CategoricalSketch] = {
            **window.categorical,
            **window.numeric,
        }
        for name in sorted(cur)[:_MAX_PLOTS]:
            fp = prof.features.get(name)
            if fp is None or type(fp.sketch) is not type(cur[name]):
                continue
            drifted = name in r.drifted_features
            plots.append(
                card(
                    name,
                    distribution_chart(fp.sketch, cur[name]),
                    status=Status.ALERT if drifted else Status.OK,
                )
            )
        if plots:
            blocks.append(section("Distributions (reference vs window)", grid(plots)))
    if r.quality:
        blocks.append(
            section(
                "Data quality",
                table(
                    ["feature", "issue", "count", "rate", "reference rate"],
                    [
                        [q.feature or "(row)", q.issue, q.count, q.rate, q.reference_rate]
                        for q in r.quality
                    ],
                    status=[
                        Status.WARNING if q.rate > (q.reference_rate or 0.0) + 0.01 else None
                        for q in r.quality
                    ],
                ),
            )
        )
    hist = list(reversed(reports))
    xs = [h.window_end for h in hist]
    perf = r.performance
    perf_blocks: list[Markup] = []
    if perf is not None:
        perf_blocks.append(
            key_values(
                {
                    "task": perf.task,
                    "labelled": perf.n_labelled,
                    "predicted": perf.n_predicted,
                    "label coverage": perf.coverage,
                    "label delay p50 (s)": perf.delay_p50,
                    **{k: v for k, v in perf.metrics.items()},
                }
            )
        )
    names = sorted({k for h in hist if h.performance for k in h.performance.metrics})
    if names and len(hist) > 1:
        series = [
            Series(
                n,
                xs,
                [_nan(h.performance.metrics.get(n)) if h.performance else math.nan for h in hist],
            )
            for n in names[:6]
        ]
        perf_blocks.append(line_chart(series, title="performance by window", x_format=_hhmm))
    if perf_blocks:
        blocks.append(section("Performance (labels joined by prediction time)", *perf_blocks))
    else:
        blocks.append(section("Performance", paragraph("no labels yet", muted=True)))
    ops = r.operations
    op_blocks: list[Markup] = [
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
    if len(hist) > 1:
        op_blocks.append(
            line_chart(
                [Series("latency p95 (s)", xs, [_nan(h.operations.latency_p95) for h in hist])],
                title="latency p95 by window",
                x_format=_hhmm,
            )
        )
    blocks.append(section("Operations", *op_blocks))
    return page(
        f"{r.model} — otel-ml evaluator",
        *blocks,
        subtitle=f"latest window ending {_time(r.window_end)}",
        footer="otel-ml evaluator",
    )
