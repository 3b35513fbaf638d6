"""What ``otel-ml demo`` prints: the set-up, alerts as they fire and resolve, the summary.

Results go to stdout; the progress bar goes to stderr (and is erased before an
alert line is printed on the same terminal).
"""

from __future__ import annotations

import datetime
import math
import sys
from collections.abc import Sequence
from typing import TextIO

from otel_ml._progress import ProgressBar
from otel_ml.alerting import AlertState, AlertTransition
from otel_ml.demo._data import SCANNER_RECALIBRATION
from otel_ml.demo._findings import WindowSummary
from otel_ml.demo._run import DemoResult
from otel_ml.demo._scenario import Phase, Scenario
from otel_ml.demo._wiring import FOR_WINDOWS
from otel_ml.report import format_table

__all__ = ["DemoConsole", "describe_alert", "phase_ranges", "summary_lines"]


def _hhmm(t: float) -> str:
    return datetime.datetime.fromtimestamp(t, tz=datetime.timezone.utc).strftime("%H:%M")


def phase_ranges(sc: Scenario) -> list[tuple[Phase, int, int]]:
    """``(phase, first window, last window)`` in order.

    >>> [(p.value, a, b) for p, a, b in phase_ranges(Scenario.quick())]
    [('baseline', 0, 3), ('covariate_shift', 4, 7), ('concept_change', 8, 11)]
    """
    out: list[tuple[Phase, int, int]] = []
    for i in range(sc.n_windows):
        p = sc.phase(i)
        if out and out[-1][0] is p:
            out[-1] = (p, out[-1][1], i)
        else:
            out.append((p, i, i))
    return out


def window_of(t: float, windows: Sequence[WindowSummary]) -> int | None:
    for w in windows:
        if w.start <= t < w.end:
            return w.index
    return None


def describe_alert(t: AlertTransition, t0: float, window_seconds: float) -> str:
    """One line: what changed, why (rule, value, threshold) and which window."""
    index = round((t.window_start - t0) / window_seconds)
    when = f"window {index} ({_hhmm(t.window_start)}-{_hhmm(t.window_end)} UTC, {t.n_rows} rows)"
    return f"{t.summary}; {when}"


class DemoConsole:
    """The run's console output (``out``: results, ``err``: progress)."""

    def __init__(
        self, out: TextIO | None = None, err: TextIO | None = None, *, progress: bool | None = None
    ) -> None:
        self.out = out if out is not None else sys.stdout
        self.err = err if err is not None else sys.stderr
        from otel_ml._progress import progress_wanted

        self.bar = ProgressBar(
            "serving simulated traffic",
            stream=self.err,
            enabled=progress_wanted(progress, self.err),
            unit="windows",
        )
        self._t0 = 0.0
        self._window = 60.0
        self._steps = 1

    def print(self, line: str = "") -> None:
        print(line, file=self.out, flush=True)

    def intro(self, scenario: Scenario, t0: float) -> None:
        self._t0, self._window, self._steps = t0, scenario.window_seconds, scenario.steps_per_window
        names = {
            Phase.BASELINE: "baseline",
            Phase.COVARIATE_SHIFT: "scanner recalibrated (covariate shift: "
            + ", ".join(s.feature for s in SCANNER_RECALIBRATION)
            + ")",
            Phase.CONCEPT_CHANGE: "scanner fixed, new grading guideline (concept change: "
            "labels of large concave cases change)",
        }
        lo, hi = scenario.label_delay
        self.print(
            f"serving {scenario.n_windows} windows of {scenario.window_seconds:g} s simulated "
            f"time ({_hhmm(t0)}-{_hhmm(t0 + scenario.n_windows * scenario.window_seconds)} UTC, "
            f"in seconds), {scenario.rows_per_window} rows each, through @otel_ml.monitor:"
        )
        for p, a, b in phase_ranges(scenario):
            self.print(f"  windows {a:>2}-{b:<2} {names[p]}")
        self.print(
            f"  labels: {scenario.label_fraction:.0%} of rows, via otel_ml.record_outcome "
            f"{lo:g}-{hi:g} s after the prediction"
        )
        self.print()

    def progress(self, step: int, total: int) -> None:
        self.bar(step // self._steps, total // self._steps)

    def alert(self, t: AlertTransition) -> None:
        if self.bar.enabled and self.bar.tty:
            self.err.write("\r\x1b[K")
            self.err.flush()
        self.print(describe_alert(t, self._t0, self._window))

    def done(self) -> None:
        self.bar.close()


def _num(x: float, digits: int = 3) -> str:
    return "-" if not math.isfinite(x) else f"{x:.{digits}f}"


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan


def summary_lines(result: DemoResult) -> list[str]:
    """The final table and the verdict lines."""
    t0 = result.windows[0].start if result.windows else 0.0
    fired: dict[int, dict[str, int]] = {}
    for t in result.alerts:
        i = round((t.window_start - t0) / result.scenario.window_seconds)
        mark = "+" if t.state is AlertState.FIRING else "-"
        per = fired.setdefault(i, {})
        per[mark + t.rule] = per.get(mark + t.rule, 0) + 1
    rows = []
    for w in result.windows:
        rows.append(
            [
                str(w.index),
                _hhmm(w.start),
                w.phase.value,
                str(w.rows),
                _num(w.true_accuracy),
                _num(w.accuracy),
                str(w.labelled),
                ", ".join(w.drifted) or "-",
                " ".join(
                    f"{k}" + (f" x{n}" if n > 1 else "") for k, n in fired.get(w.index, {}).items()
                )
                or "-",
            ]
        )
    lines = [
        format_table(
            [
                "window",
                "UTC",
                "phase",
                "rows",
                "acc (true)",
                "acc (evaluator)",
                "labelled",
                "drifted features",
                "alerts (+fired -resolved)",
            ],
            rows,
            right={0, 3, 4, 5, 6},
        ),
        "",
    ]
    drift_windows = [w for w in result.windows if w.drifted]
    if result.evaluated:
        if drift_windows:
            feats = sorted({f for w in drift_windows for f in w.drifted})
            idx = [w.index for w in drift_windows]
            lines.append(f"drift found: windows {_span(idx)} ({', '.join(feats)})")
        else:
            lines.append("drift found: none")
        for p in Phase:
            ws = result.phase_windows(p)
            if ws:
                lines.append(
                    f"accuracy, {p.value:<15}: {_num(_mean([w.accuracy for w in ws]))} "
                    f"(evaluator, joined labels), {_num(_mean([w.true_accuracy for w in ws]))} "
                    "(every row)"
                )
        n_fire = sum(1 for t in result.alerts if t.state is AlertState.FIRING)
        if result.embedded:
            lines.append(f"alerts: {n_fire} fired, {len(result.alerts) - n_fire} resolved")
            lines += _detection_lines(result)
        else:
            lines.append(f"alerts firing on the evaluator now: {n_fire}")
            lines += [
                f"  {describe_alert(t, t0, result.scenario.window_seconds)}" for t in result.alerts
            ]
    return lines


def _detection_lines(result: DemoResult) -> list[str]:
    """When each injected change began and when the first alert about it fired."""
    w = result.scenario.window_seconds
    out = []
    for phase, kinds in (
        (Phase.COVARIATE_SHIFT, {"feature_drift", "prediction_drift", "data_quality"}),
        (Phase.CONCEPT_CHANGE, {"performance"}),
    ):
        ws = result.phase_windows(phase)
        if not ws:
            continue
        first = next(
            (
                t
                for t in result.alerts
                if t.state is AlertState.FIRING
                and t.kind.value in kinds
                and t.window_start >= ws[0].start
            ),
            None,
        )
        began = f"{phase.value} began at window {ws[0].index}"
        if first is None:
            out.append(f"{began}: no alert")
        else:
            at = round((first.window_start - result.start) / w)
            out.append(
                f"{began}: first alert at window {at} ({first.rule}; the rules wait for "
                f"{FOR_WINDOWS} breaching windows)"
            )
    return out


def _span(indices: Sequence[int]) -> str:
    """``0-3, 6`` from ``[0, 1, 2, 3, 6]``.

    >>> _span([0, 1, 2, 3, 6])
    '0-3, 6'
    """
    parts: list[str] = []
    start = prev = indices[0]
    for i in [*indices[1:], None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        parts.append(f"{start}-{prev}" if prev > start else f"{start}")
        if i is not None:
            start = prev = i
    return ", ".join(parts)
