"""False alarms and detection of ``benchmarks/alternatives.py``: otel_ml vs Evidently defaults.

Data, features and shifts are those of ``benchmarks/drift_simulation.py`` (imported):
a 100,000-row reference; windows of 1,000 / 10,000 / 100,000 rows; five features
(``normal``, ``lognormal``, a Poisson ``count``, ``cat5``, a 1,000-value ``cat1000``).
Every window is judged by both tools, so their rates are paired on the same data.

otel_ml: the window is sketched as the SDK does and compared with ``compare_feature``
under the default ``DriftPolicy`` (five features tested together). Evidently: the
per-column verdict of ``Report([DataDriftPreset()])`` with its defaults. Running the
whole Report for thousands of windows would take hours, so the verdicts come from
the same two calls the Report makes per column (``get_stattest(ref, cur, column_type,
None)`` then the test with its default threshold, as in
``evidently.legacy.calculations.data_drift.get_one_column_drift``), with the column
types Evidently infers; on the first windows of every configuration the full Report
runs too and the method and drift score must match it (else the run stops).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from _alternatives_tables import Table, Tools
from drift_simulation import (
    FEATURES,
    NO_DRIFT,
    REFERENCE_ROWS,
    SHIFTS,
    Columns,
    Shift,
    sample,
    sketch,
    upper_95,
)

from otel_ml.sketch import PROFILE_MAX_CATEGORIES, CategoricalSketch
from otel_ml.stats import DriftPolicy, compare_feature


@dataclass
class Tally:
    windows: int = 0
    flagged: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FEATURES, 0))
    seconds: float = 0.0

    def add(self, verdicts: dict[str, bool]) -> None:
        for name, drifted in verdicts.items():
            self.flagged[name] += drifted


@dataclass(frozen=True)
class Plan:
    """Windows per size: without drift, and per known shift."""

    sizes: tuple[int, ...] = (1_000, 10_000, 100_000)
    null_windows: tuple[int, ...] = (2_000, 1_000, 300)
    shift_windows: tuple[int, ...] = (200, 200, 100)
    report_checks: int = 2
    reference_rows: int = REFERENCE_ROWS
    # (rows, windows): windows of that many rows against a reference of as many rows,
    # where Evidently switches to its small-sample tests (reference <= 1,000 rows).
    small_reference: tuple[int, int] | None = (1_000, 2_000)

    def scaled(self, factor: float) -> Plan:
        def s(xs: tuple[int, ...]) -> tuple[int, ...]:
            return tuple(max(2, round(x * factor)) for x in xs)

        small = self.small_reference
        return Plan(self.sizes, s(self.null_windows), s(self.shift_windows),
                    self.report_checks, self.reference_rows,
                    None if small is None else (small[0], s((small[1],))[0]))


class _Evidently:
    """Evidently's per-column default verdict, checked against the full Report."""

    def __init__(self, module: Any, reference: Columns) -> None:
        import pandas as pd
        from evidently import Dataset, Report
        from evidently.legacy.calculations.stattests.registry import get_stattest
        from evidently.presets import DataDriftPreset

        self._pd, self._dataset, self._get_stattest = pd, Dataset, get_stattest
        self._report = lambda: Report([DataDriftPreset()])
        self.reference = pd.DataFrame(reference)
        self.methods: dict[tuple[int, int, str], str] = {}

    def verdicts(self, cols: Columns) -> tuple[dict[str, bool], Any]:
        """Per-feature verdicts, and a callable that checks them against the full Report."""
        cur = self._pd.DataFrame(cols)
        types = self._dataset.from_pandas(cur)
        out: dict[str, bool] = {}
        scores: dict[str, tuple[str, float]] = {}
        for name in FEATURES:
            ctype = types.column(name).type
            ref_s, cur_s = self.reference[name], cur[name]
            test = self._get_stattest(ref_s, cur_s, ctype, None)
            result = test(ref_s, cur_s, ctype, None)
            out[name] = bool(result.drifted)
            scores[name] = (test.display_name, float(result.drift_score))
            self.methods[(len(self.reference), len(cur), name)] = (
                f"{test.display_name} {'<' if _is_p_value(test) else '>='} "
                f"{result.actual_threshold:g}")
        return out, lambda: self._check(cur, scores)

    def _check(self, cur: Any, scores: dict[str, tuple[str, float]]) -> None:
        snap = self._report().run(current_data=cur, reference_data=self.reference).dict()
        seen = 0
        for metric in snap["metrics"]:
            config = metric["config"]
            if config.get("type", "").endswith("ValueDrift"):
                method, score = scores[config["column"]]
                if config["method"] != method or not np.isclose(float(metric["value"]), score):
                    raise AssertionError(f"Evidently Report disagrees on {config['column']}: "
                                         f"{config['method']}={metric['value']} vs {method}="
                                         f"{score}")
                seen += 1
        if seen != len(FEATURES):
            raise AssertionError(f"Evidently Report gave {seen} column drift metrics, "
                                 f"expected {len(FEATURES)}")


def _is_p_value(test: Any) -> bool:
    """Evidently names its p-value tests "... p_value" (drift when below the threshold)."""
    return "p_value" in str(test.display_name)


def _otel_verdicts(reference: dict[str, Any], cols: Columns, policy: DriftPolicy
                   ) -> dict[str, bool]:
    window = sketch(cols, max_categories=CategoricalSketch().max_categories)
    return {name: compare_feature(name, reference[name], window[name], policy=policy,
                                  n_tests=len(FEATURES)).drifted for name in FEATURES}


@dataclass
class _Side:
    """One reference, as each tool holds it."""

    sketches: dict[str, Any]
    evidently: _Evidently | None


def _side(tools: Tools, rng: np.random.Generator, rows: int) -> _Side:
    cols = sample(rng, rows, NO_DRIFT)
    ev = _Evidently(tools.evidently.module, cols) if tools.evidently.available else None
    return _Side(sketch(cols, PROFILE_MAX_CATEGORIES), ev)


def _windows(side: _Side, rng: np.random.Generator, n: int, reps: int, shift: Shift,
             checks: int) -> tuple[Tally, Tally | None]:
    policy = DriftPolicy()
    ours, theirs = Tally(), (Tally() if side.evidently else None)
    for i in range(reps):
        cols = sample(rng, n, shift)
        t = time.process_time()
        ours.add(_otel_verdicts(side.sketches, cols, policy))
        ours.seconds += time.process_time() - t
        ours.windows += 1
        if side.evidently is not None and theirs is not None:
            t = time.process_time()
            verdicts, check = side.evidently.verdicts(cols)
            theirs.seconds += time.process_time() - t
            theirs.add(verdicts)
            theirs.windows += 1
            if i < checks:
                check()  # not timed: the full Report on this window must agree
    return ours, theirs


Results = dict[tuple[str, int], tuple[Tally, Tally | None]]
SMALL = "small reference"


def simulate(tools: Tools, plan: Plan, *, seed: int = 20261128,
             progress: Callable[[str], None] = lambda _: None) -> tuple[Table, Table]:
    """Run every window through both tools; return (false-alarm table, detection table)."""
    rng = np.random.default_rng(seed)
    main = _side(tools, rng, plan.reference_rows)
    results: Results = {}
    began = time.perf_counter()
    for shift in (NO_DRIFT, *SHIFTS):
        reps = plan.null_windows if shift is NO_DRIFT else plan.shift_windows
        for n, r in zip(plan.sizes, reps, strict=True):
            results[(shift.name, n)] = _windows(main, rng, n, r, shift, plan.report_checks)
            progress(f"{shift.name} at {n:,} rows: {r} windows "
                     f"({time.perf_counter() - began:.0f} s so far)")
    small = None
    if plan.small_reference is not None:
        rows, reps = plan.small_reference
        small = _side(tools, rng, rows)
        results[(SMALL, rows)] = _windows(small, rng, rows, reps, NO_DRIFT, plan.report_checks)
        progress(f"no drift, {rows:,}-row reference and windows: {reps} windows")
    methods: dict[tuple[int, int, str], str] = {}
    for side in (main, small):
        if side is not None and side.evidently is not None:
            methods.update(side.evidently.methods)
    return _null_table(results, plan, tools, methods), _shift_table(results, plan, tools)


def _tool_rows(ours: Tally, theirs: Tally | None, tools: Tools, cell: Callable[[Tally, str], str]
               ) -> list[tuple[str, list[str]]]:
    rows = [("otel_ml (default `DriftPolicy`)", [cell(ours, f) for f in FEATURES])]
    if theirs is not None:
        rows.append((f"Evidently {tools.evidently.version} (defaults)",
                     [cell(theirs, f) for f in FEATURES]))
    else:
        rows.append(("Evidently", [tools.evidently.missing_cell()] + ["—"] * (len(FEATURES) - 1)))
    return rows


def _null_table(results: Results, plan: Plan, tools: Tools,
                methods: dict[tuple[int, int, str], str]) -> Table:
    rows: list[tuple[str, ...]] = []
    keys = [(NO_DRIFT.name, n, f"{n:,}") for n in plan.sizes]
    if plan.small_reference is not None:
        n = plan.small_reference[0]
        keys.append((SMALL, n, f"{n:,} (reference of {n:,} rows)"))
    for key, n, size in keys:
        ours, theirs = results[(key, n)]
        for label, cells in _tool_rows(ours, theirs, tools,
                                       lambda t, f: f"{100 * t.flagged[f] / t.windows:.2f} %"):
            tally = ours if label.startswith("otel_ml") else theirs
            if tally is None:
                rows.append((size, label, *cells, "—", "—"))
                continue
            k, tests = sum(tally.flagged.values()), tally.windows * len(FEATURES)
            rows.append((size, label, *cells,
                         f"{k:,} / {tests:,} ({100 * upper_95(k, tests):.2f} %)",
                         f"{1000 * tally.seconds / tally.windows:.1f}"))
    windows = [f"{w:,} at {n:,} rows" for n, w in zip(plan.sizes, plan.null_windows,
                                                      strict=True)]
    if plan.small_reference is not None:
        windows.append(f"{plan.small_reference[1]:,} against the {plan.small_reference[0]:,}"
                       "-row reference")
    notes = ["Windows (both tools judge the same windows): " + ", ".join(windows) + "."]
    if methods:
        per_feature: dict[str, dict[str, list[str]]] = {}
        for (ref_rows, n, name), method in sorted(methods.items(), key=lambda kv: (-kv[0][0],
                                                                                     kv[0][1:])):
            size = f"{n:,}" if ref_rows == plan.reference_rows else f"{n:,} vs {ref_rows:,}"
            per_feature.setdefault(name, {}).setdefault(method, []).append(size)
        notes.append(
            "Evidently's default test per feature (its rules pick it from the column type "
            "it infers from the data and from the reference size): " + "; ".join(
                f"`{f}`: " + ", ".join(f"{m} ({' / '.join(ns)} rows)"
                                       for m, ns in by.items())
                for f, by in per_feature.items()) + ".")
    return Table(
        title="False alarms without drift (share of windows flagged, per feature)",
        intro=(f"Reference: {plan.reference_rows:,} rows (last rows: a small reference); "
               "windows drawn from the same distributions. Last columns: all features "
               "together, flagged / tests, with the one-sided 95 % Clopper–Pearson upper "
               "bound; CPU ms per window to reach the five verdicts (otel_ml: sketching the "
               "window included; Evidently: building the DataFrame included)."),
        columns=("rows per window", "tool", *FEATURES, "all: flagged / tests (95 % bound)",
                 "CPU ms / window"),
        rows=tuple(rows),
        notes=tuple(notes),
    )


def _shift_table(results: dict[tuple[str, int], tuple[Tally, Tally | None]], plan: Plan,
                 tools: Tools) -> Table:
    rows: list[tuple[str, ...]] = []
    for shift in SHIFTS:
        for n in plan.sizes:
            ours, theirs = results[(shift.name, n)]

            def cell(t: Tally, f: str, shift: Shift = shift) -> str:
                rate = f"{100 * t.flagged[f] / t.windows:.1f} %"
                return f"**{rate}**" if f in shift.features else f"({rate})"

            for label, cells in _tool_rows(ours, theirs, tools, cell):
                rows.append((shift.name, f"{n:,}", label, *cells))
    return Table(
        title="Detection of known shifts (share of windows flagged, per feature)",
        intro=("Shifts as in `benchmarks/drift_simulation.py`: mean + d sd (`count`: Poisson "
               "mean + d·√3), variance ×1.5 around the mean (`count`: negative binomial), "
               "10 % of the categorical mass moved from the most frequent values to the others "
               "(total variation 0.1). **Bold**: shifted features (detection rate); in "
               "brackets: features left unshifted in the same windows (false alarms). "
               "Windows per shift: " + ", ".join(
                   f"{w:,} at {n:,} rows" for n, w in zip(plan.sizes, plan.shift_windows,
                                                          strict=True)) + "."),
        columns=("shift", "rows per window", "tool", *FEATURES),
        rows=tuple(rows),
    )
