"""``report.html``: the demo's self-contained report (inline SVG from :mod:`otel_ml.report`).

Accuracy and feature drift over the windows with the phases shaded and the
alert thresholds drawn, the alerts with their reasons, the window table, and the
distributions of the most drifted features: reference (training) against a
window of each phase, from the evaluator's stored sketches.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

from otel_ml.alerting import AlertState
from otel_ml.demo._data import SCANNER_RECALIBRATION
from otel_ml.demo._run import MODEL, DemoResult
from otel_ml.demo._scenario import Phase
from otel_ml.report import (
    Band,
    Marker,
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

__all__ = ["REPORT_FILE", "report_html"]

REPORT_FILE = "report.html"
_PHASE_COLOUR = {Phase.COVARIATE_SHIFT: "#ef6c00", Phase.CONCEPT_CHANGE: "#6a1b9a"}
_MAX_DRIFT_LINES = 4
_DISTRIBUTIONS = 6


def _time(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%H:%M")


def _mid(w: Any) -> float:
    return float(w.start + (w.end - w.start) / 2)


def _bands(result: DemoResult) -> list[Band]:
    # The baseline too (unshaded): the time axis then spans every window, start to end,
    # not from the first window's middle.
    base = result.phase_windows(Phase.BASELINE)
    bands = [Band(base[0].start, base[-1].end, "baseline", opacity=0.0)] if base else []
    for p, colour in _PHASE_COLOUR.items():
        ws = result.phase_windows(p)
        if ws:
            bands.append(Band(ws[0].start, ws[-1].end, p.description, colour=colour, opacity=0.08))
    return bands


def _accuracy_chart(result: DemoResult) -> Markup:
    ws = result.windows
    x = [_mid(w) for w in ws]
    series = [
        Series("evaluator (joined labels)", x, [w.accuracy for w in ws]),
        Series("every served row", x, [w.true_accuracy for w in ws], dashed=True),
        Series("estimated from the scores, no labels (CBPE)", x,
               [w.estimated_accuracy for w in ws]),
    ]
    return line_chart(
        series,
        title="Accuracy per window",
        y_label="accuracy",
        time_axis=True,
        markers=[Marker(0.85, "accuracy_low: 0.85", axis="y")],
        bands=_bands(result),
        y_range=(0.0, 1.0),
    )


def _drift_chart(result: DemoResult) -> Markup:
    ws = result.windows
    x = [_mid(w) for w in ws]
    by_feature: dict[str, list[float]] = {}
    for i, w in enumerate(ws):
        for name, v in w.psi:
            by_feature.setdefault(name, [math.nan] * len(ws))[i] = v
    top = sorted(
        by_feature, key=lambda n: -max((v for v in by_feature[n] if math.isfinite(v)), default=0.0)
    )
    shown = top[:_MAX_DRIFT_LINES]
    series = [Series(n, x, by_feature[n]) for n in shown]
    rest = top[_MAX_DRIFT_LINES:]
    if rest:
        worst = [
            max(
                (by_feature[n][i] for n in rest if math.isfinite(by_feature[n][i])),
                default=math.nan,
            )
            for i in range(len(ws))
        ]
        series.append(Series(f"highest of the other {len(rest)}", x, worst, dashed=True))
    return line_chart(
        series,
        title="Feature drift (PSI against the training profile) per window",
        y_label="PSI",
        time_axis=True,
        markers=[Marker(0.2, "feature_drift: 0.2", axis="y")],
        bands=_bands(result),
    )


def _alerts_table(result: DemoResult) -> Markup:
    if not result.alerts:
        return paragraph("No alert fired.", muted=True)
    rows, status = [], []
    w = result.scenario.window_seconds
    for t in result.alerts:
        firing = t.state is AlertState.FIRING
        rows.append(
            [
                round((t.window_start - result.start) / w),
                f"{_time(t.window_start)}-{_time(t.window_end)}",
                badge(t.state.value, Status.ALERT if firing else Status.OK),
                t.severity.value,
                t.rule,
                t.feature or t.metric or "",
                t.value,
                "verdict" if t.threshold is None else f"{t.comparison.value} {t.threshold:g}",
                t.n_rows,
            ]
        )
        status.append(Status.ALERT if firing else Status.OK)
    return table(
        ["window", "UTC", "state", "severity", "rule", "subject", "value", "threshold", "rows"],
        rows,
        status=status,
        caption="Each transition as the alert engine decided it, with the window that decided."
        if result.embedded
        else "The alerts firing on the external evaluator at the end of the run.",
    )


def _windows_table(result: DemoResult) -> Markup:
    rows, status = [], []
    for w in result.windows:
        rows.append(
            [
                w.index,
                _time(w.start),
                w.phase.value,
                w.rows,
                w.true_accuracy,
                w.accuracy,
                w.labelled,
                ", ".join(w.drifted) or "–",
            ]
        )
        status.append(Status.ALERT if w.drifted or (w.accuracy < 0.85) else None)
    return table(
        [
            "window",
            "UTC",
            "phase",
            "rows",
            "accuracy (every row)",
            "accuracy (evaluator)",
            "labelled",
            "drifted features",
        ],
        rows,
        status=status,
    )


def _distributions(result: DemoResult) -> Markup:
    profile = result.extras.get("profile")
    windows = result.extras.get("window_data", {})
    if profile is None or not windows:
        return paragraph("No stored window (external evaluator).", muted=True)
    shifted = [s.feature for s in SCANNER_RECALIBRATION]
    others = [n for n in profile.features if n not in shifted]
    names = (shifted + others)[:_DISTRIBUTIONS]
    blocks = []
    for phase in (Phase.COVARIATE_SHIFT, Phase.CONCEPT_CHANGE, Phase.BASELINE):
        if phase.value not in windows:
            continue
        index, data = windows[phase.value]
        cards = []
        summary = next(w for w in result.windows if w.index == index)
        psi = dict(summary.psi)
        for n in names:
            cur = data.numeric.get(n)
            ref = profile.features[n].sketch
            if cur is None:
                continue
            drifted = n in summary.drifted
            cards.append(
                card(
                    n,
                    distribution_chart(ref, cur, labels=("training", f"window {index}")),
                    key_values(
                        [
                            ("PSI", psi.get(n, math.nan)),
                            ("verdict", "drift" if drifted else "no drift"),
                        ]
                    ),
                    status=Status.ALERT if drifted else Status.OK,
                )
            )
        blocks.append(
            paragraph(f"Window {index} ({phase.description}) against the training profile:")
        )
        blocks.append(grid(cards))
    return Markup("\n".join(blocks))


def report_html(result: DemoResult) -> str:
    sc = result.scenario
    phases = []
    for p in Phase:
        ws = result.phase_windows(p)
        if ws:
            phases.append(
                [
                    p.description,
                    f"{ws[0].index}-{ws[-1].index}",
                    f"{_time(ws[0].start)}-{_time(ws[-1].end)}",
                ]
            )
    intro = section(
        "What happened",
        paragraph(
            "A logistic regression was trained on the Wisconsin breast cancer dataset that "
            f"ships with scikit-learn ({result.n_train} training biopsies, 30 measurements of "
            "cell nuclei; it predicts malignant or benign). Simulated production traffic went "
            "through a function decorated with @otel_ml.monitor; the true diagnoses came back "
            "later through otel_ml.record_outcome; the SDK exported everything over OTLP to "
            "the otel-ml evaluator, which compared each window with the training profile, "
            "joined the labels and ran the alert rules."
        ),
        key_values(
            [
                ("model", f"{MODEL} v1 (accuracy on held-out data {result.holdout_accuracy:.3f})"),
                (
                    "windows",
                    f"{sc.n_windows} x {sc.window_seconds:g} s simulated, "
                    f"{sc.rows_per_window} rows each",
                ),
                (
                    "labels",
                    f"{sc.label_fraction:.0%} of rows, {sc.label_delay[0]:g}-"
                    f"{sc.label_delay[1]:g} s after the prediction",
                ),
                (
                    "evaluator",
                    "embedded (SQLite state in the output directory)"
                    if result.embedded
                    else f"external at {result.endpoints.get('otlp', '?')}",
                ),
                ("run time", f"{result.seconds:.1f} s"),
            ]
        ),
        table(["phase", "windows", "UTC"], phases),
        table(
            ["shifted feature", "change", "why"],
            [
                [s.feature, f"x{s.scale:g}" if s.scale != 1 else f"+noise {s.noise_sd:g} sd", s.why]
                for s in SCANNER_RECALIBRATION
            ],
            caption="The covariate shift (scanner recalibration).",
        ),
    )
    blocks = [intro]
    if result.evaluated:
        blocks.append(
            section(
                "Accuracy",
                _accuracy_chart(result),
                paragraph(
                    "The estimate from the scores (CBPE, no labels) follows the covariate "
                    "shift but not the concept change: the scores stay confident while "
                    "the answers go wrong. That gap is why the evaluator shows both.",
                    muted=True,
                ),
            )
        )
    if result.embedded:  # PSI per window: only the embedded evaluator's full reports have it
        blocks.append(section("Feature drift", _drift_chart(result)))
    if result.evaluated:
        blocks.append(section("Alerts", _alerts_table(result)))
    blocks += [
        section("Windows", _windows_table(result)),
        section("Distributions", _distributions(result)),
    ]
    return page(
        "otel-ml demo report",
        *blocks,
        subtitle="a monitored model, drifting traffic, delayed labels, alerts",
        footer=f"reference profile: {result.profile_path.name}; machine-readable: summary.json",
    )
