"""Speed parts of ``benchmarks/alternatives.py``: capture throughput, drift time, call overhead.

Every function takes the data sizes and a :class:`Tools`; the otel_ml rows are always
measured, a tool's rows only when it loaded (else the row says why not). Ratios are
against the otel_ml row measured in the same call, so machine noise mostly cancels.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np
import numpy.typing as npt
from _alternatives_tables import Table, Tools, cpu_seconds, ms, ns, ratio
from compare_bench import table as feature_table  # 20 numeric + 5 categorical columns

from otel_ml import semconv
from otel_ml.sketch import CategoricalSketch, NumericSketch, Profile
from otel_ml.stats import compare

Columns = dict[str, npt.NDArray[np.generic]]


def _split(cols: Columns) -> tuple[Columns, Columns]:
    numeric = {k: v for k, v in cols.items() if v.dtype.kind in "fiu"}
    return numeric, {k: v for k, v in cols.items() if k not in numeric}


def capture_throughput(tools: Tools, *, rows: int = 10_000, otel_rows: int = 500,
                       repeat: int = 5, seed: int = 11) -> Table:
    """Per-value cost of capturing a 25-feature batch: sketches, whylogs, OTel instruments."""
    cols = feature_table(np.random.default_rng(seed), rows)
    numeric, categorical = _split(cols)
    n_num, n_cat = rows * len(numeric), rows * len(categorical)

    num_sketches = {k: NumericSketch() for k in numeric}
    cat_sketches = {k: CategoricalSketch() for k in categorical}

    def sketch_numeric() -> None:
        for k, v in numeric.items():
            num_sketches[k].update(v)

    def sketch_categorical() -> None:
        for k, v in categorical.items():
            cat_sketches[k].update(v)

    sketch_numeric()  # steady state: the SDK's sketches already hold earlier batches
    sketch_categorical()
    t_num = cpu_seconds(sketch_numeric, repeat) / n_num
    t_cat = cpu_seconds(sketch_categorical, repeat) / n_cat
    t_all = (t_num * n_num + t_cat * n_cat) / (n_num + n_cat)
    shape = f"{rows:,} x {len(cols)}"
    out: list[tuple[str, ...]] = [
        ("otel_ml `NumericSketch.update` (baseline, numeric)", f"{rows:,} x {len(numeric)}",
         ns(t_num), "1.0x", "whole column per call, steady state"),
        ("otel_ml `CategoricalSketch.update` (baseline, categorical)",
         f"{rows:,} x {len(categorical)}", ns(t_cat), "1.0x", "top-100 + overflow"),
        ("otel_ml, all 25 features (baseline, table)", shape, ns(t_all), "1.0x", ""),
    ]

    wl = tools.whylogs
    if wl.module is not None:
        import pandas as pd

        why: Any = wl.module
        frame, frame_num = pd.DataFrame(cols), pd.DataFrame(numeric)
        t_wl = cpu_seconds(lambda: why.log(frame), repeat) / (n_num + n_cat)
        t_wl_num = cpu_seconds(lambda: why.log(frame_num), repeat) / n_num
        out += [
            ("whylogs `why.log(DataFrame)`, all 25 features", shape, ns(t_wl),
             ratio(t_wl, t_all), f"whylogs {wl.version}"),
            ("whylogs `why.log(DataFrame)`, numeric only", f"{rows:,} x {len(numeric)}",
             ns(t_wl_num), ratio(t_wl_num, t_num), ""),
        ]
    else:
        out.append(("whylogs `why.log(DataFrame)`", shape, "—", "—", wl.missing_cell()))

    out += _otel_instruments(numeric, categorical, otel_rows, repeat, t_num, t_cat)
    return Table(
        title="Feature capture throughput (CPU time per value)",
        intro=(f"The same generated {rows:,}-row table of 25 features (20 numeric: normal, "
               "log-normal, Poisson, uniform, mixed sign with zeros; 5 categorical with 5 to "
               "1,000 values; `compare_bench.table`). Median CPU time of "
               f"{repeat} timings, divided by the number of values. Ratio: to the otel_ml "
               "row for the same columns, measured in the same run."),
        columns=("capture", "values", "per value", "vs otel_ml", "notes"),
        rows=tuple(out),
    )


def _otel_instruments(numeric: Columns, categorical: Columns, sub_rows: int, repeat: int,
                      t_num: float, t_cat: float) -> list[tuple[str, ...]]:
    """Every value through the OTel SDK's own instruments, on the first ``sub_rows`` rows."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View

    explicit = MeterProvider(metric_readers=[InMemoryMetricReader()])
    exponential = MeterProvider(
        metric_readers=[InMemoryMetricReader()],
        views=[View(instrument_name="*", aggregation=ExponentialBucketHistogramAggregation())],
    )
    # Histogram.record drops negative values, so only |x| can go through it.
    values = [(np.abs(v[:sub_rows]).tolist(), {semconv.ML_MODEL_NAME: "bench",
                                               semconv.ML_FEATURE_NAME: k})
              for k, v in numeric.items()]
    cats = [(v[:sub_rows].tolist(), k) for k, v in categorical.items()]
    n_values = sum(len(v) for v, _ in values)
    n_cats = sum(len(v) for v, _ in cats)

    def record(provider: MeterProvider) -> Any:
        hist = provider.get_meter("bench").create_histogram(semconv.METRIC_FEATURE_VALUES)

        def run() -> None:
            for vals, attrs in values:
                for x in vals:
                    hist.record(x, attrs)

        return run

    counter = explicit.get_meter("bench").create_counter(semconv.METRIC_FEATURE_CATEGORIES)

    def count() -> None:
        for vals, name in cats:
            for x in vals:
                counter.add(1, {semconv.ML_MODEL_NAME: "bench", semconv.ML_FEATURE_NAME: name,
                                semconv.ML_FEATURE_VALUE: x})

    t_exp = cpu_seconds(record(explicit), repeat) / n_values
    t_expo = cpu_seconds(record(exponential), repeat) / n_values
    t_cnt = cpu_seconds(count, repeat) / n_cats
    explicit.shutdown()
    exponential.shutdown()
    nneg = ("non-negative values only: absolute values recorded (the SDK drops negative "
            "values)")
    return [
        ("OTel SDK `Histogram.record` per value (default explicit buckets)",
         f"{sub_rows:,} x {len(numeric)}", ns(t_exp), ratio(t_exp, t_num), nneg),
        ("OTel SDK `Histogram.record` per value (exponential aggregation view)",
         f"{sub_rows:,} x {len(numeric)}", ns(t_expo), ratio(t_expo, t_num), nneg),
        ("OTel SDK `Counter.add` per categorical value (value as attribute)",
         f"{sub_rows:,} x {len(categorical)}", ns(t_cnt), ratio(t_cnt, t_cat),
         "unbounded series for a 1,000-value feature"),
    ]


def drift_time(tools: Tools, *, reference_rows: int = 100_000,
               current_rows: tuple[int, ...] = (10_000, 100_000), repeat: int = 3,
               seed: int = 7) -> Table:
    """CPU time of one 25-feature drift comparison: otel_ml ``compare`` vs Evidently."""
    rng = np.random.default_rng(seed)
    ref_cols = feature_table(rng, reference_rows)
    reference = Profile.from_data(ref_cols)
    t_ref_profile = cpu_seconds(lambda: Profile.from_data(ref_cols), 1, min_seconds=0.0)
    currents = {m: feature_table(rng, m) for m in current_rows}
    cells: dict[str, list[str]] = {k: [] for k in ("sketch", "raw", "evidently")}
    ev = tools.evidently
    for cols in currents.values():
        current = Profile.from_data(cols)
        t_sk = cpu_seconds(lambda current=current: compare(reference, current), 5 * repeat)
        t_raw = cpu_seconds(lambda cols=cols: compare(reference, cols), repeat)
        cells["sketch"] += [ms(t_sk), "1.0x"]
        cells["raw"] += [ms(t_raw), ratio(t_raw, t_sk)]
        if ev.module is not None:
            t_ev = _evidently_seconds(ref_cols, cols, repeat)
            cells["evidently"] += [ms(t_ev), ratio(t_ev, t_sk)]
        else:
            cells["evidently"] += ["—", "—"]
    head = ["what"]
    for m in current_rows:
        head += [f"{reference_rows:,} vs {m:,} rows", "vs otel_ml"]
    rows: list[tuple[str, ...]] = [
        ("otel_ml `compare(reference_profile, current_profile)` (baseline)", *cells["sketch"]),
        ("otel_ml `compare(reference_profile, raw current table)` (sketching included)",
         *cells["raw"]),
        ("Evidently `Report([DataDriftPreset()]).run(current, reference)`"
         + (f" ({ev.version})" if ev.available else f" — {ev.missing_cell()}"),
         *cells["evidently"]),
    ]
    return Table(
        title="Drift computation time (25 features, CPU time)",
        intro=(f"Reference: {reference_rows:,} generated rows of the same 25 features; "
               "current: fresh rows of the same distributions. otel_ml: median of "
               f"{5 * repeat} (sketches) or {repeat} (raw) timings; Evidently: median of "
               f"{repeat} runs after a warm-up run, on pandas DataFrames. The one-off "
               f"reference profile (`Profile.from_data`, {reference_rows:,} rows) took "
               f"{ms(t_ref_profile)} CPU."),
        columns=tuple(head),
        rows=tuple(rows),
    )


def _evidently_seconds(ref_cols: Columns, cur_cols: Columns, repeat: int) -> float:
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    ref, cur = pd.DataFrame(ref_cols), pd.DataFrame(cur_cols)
    return cpu_seconds(lambda: Report([DataDriftPreset()]).run(current_data=cur,
                                                                reference_data=ref),
                       repeat, min_seconds=0.0)


def call_overhead(*, quick: bool) -> Table:
    """Per-call overhead of ``@otel_ml.monitor``, from ``benchmarks/sdk_overhead.py`` as is."""
    import sdk_overhead

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        sdk_overhead.main(["--quick"] if quick else [])
    rows = []
    for line in buffer.getvalue().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0].startswith("single row"):
            rows.append((cells[0].removeprefix("single row: "), cells[1]))
    return Table(
        title="Per-call overhead of `@otel_ml.monitor` (single-row predict)",
        intro=("Measured by `benchmarks/sdk_overhead.py` "
               f"(`main({['--quick'] if quick else []})`, imported and called in this run): "
               "CPU time per call of a 20-feature linear model on one row, undecorated, "
               "decorated (background worker drained, so deferred sketching and prediction "
               "events count), and inside one bare OTel span plus one counter add — the "
               "minimum a hand-instrumented call costs. SDK providers export to "
               "exporters that drop the data."),
        columns=("single-row call", "CPU time"),
        rows=tuple(rows),
    )
