"""Cost of ``SklearnInstrumentor``, measured against the same estimators uninstrumented.

Run from the repository root::

    .venv/bin/python benchmarks/sklearn_overhead.py            # full run (~1 min)
    .venv/bin/python benchmarks/sklearn_overhead.py --quick    # fewer repetitions

Measures, in one process:

1. ``instrument()``: the first call (it imports every scikit-learn estimator
   module to find the methods to wrap) and a second one after ``uninstrument()``;
2. single-row calls: ``LogisticRegression.predict_proba`` and a
   ``Pipeline(StandardScaler, LogisticRegression)`` uninstrumented, instrumented,
   and (baseline for the overhead) the plain call inside one bare OTel span plus
   one counter add, and (to separate the instrumentor's own share from the
   monitoring core's) the plain call decorated with ``@otel_ml.monitor``;
3. the guard-only wrapper on a transformer: ``StandardScaler.transform`` (one
   row) uninstrumented vs instrumented;
4. a 10,000 x 20 ``predict_proba`` batch uninstrumented vs instrumented (feature
   capture of 200,000 values included);
5. the same single row and batch through a three-class ``LogisticRegression``, whose
   ``predict_proba`` also exports the ``argmax:<class>`` sketches (multiclass CBPE).

Times are process CPU time per call (all threads, so the background worker's
sketches and events count; other processes on a shared machine do not), least
of the repetitions; instrumented timings include draining the worker. SDK
providers are wired like a service (batch span and log processors, a periodic
metric reader through the sketch bridge) to exporters that drop the data.
Results are printed as a Markdown table (paste into docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from _null_sdk import NullService, per_call


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args(argv)
    repeat = 3 if args.quick else 7
    n_single = 1_000 if args.quick else 5_000
    n_batch = 10 if args.quick else 30

    t0 = time.perf_counter()
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    import otel_ml
    from otel_ml.instrumentation.sklearn import SklearnInstrumentor

    t_import = time.perf_counter() - t0

    sdk = NullService()
    tp, lp, mp = sdk.tp, sdk.lp, sdk.mp
    providers = sdk.providers

    rng = np.random.default_rng(0)
    X = rng.normal(size=(2_000, 20))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    lr = LogisticRegression().fit(X, y)
    lr3 = LogisticRegression().fit(X, np.digitize(X[:, 0] + X[:, 1], [-0.5, 0.5]))
    pipe = Pipeline([("scale", StandardScaler()), ("lr", LogisticRegression())]).fit(X, y)
    scaler = pipe.named_steps["scale"]
    row = X[:1]
    batch = rng.normal(size=(10_000, 20))

    def noop() -> None:
        pass

    settle = sdk.settle

    bare = sdk.bare

    def lr_row() -> Any:
        return lr.predict_proba(row)

    def pipe_row() -> Any:
        return pipe.predict_proba(row)

    def scale_row() -> Any:
        return scaler.transform(row)

    def lr_batch() -> Any:
        return lr.predict_proba(batch)

    def lr3_row() -> Any:
        return lr3.predict_proba(row)

    def lr3_batch() -> Any:
        return lr3.predict_proba(batch)

    # The options the instrumentor gives this estimator, so the difference is the wrapper's.
    decorated = otel_ml.monitor(
        model="bench",
        task="binary_classification",
        framework="sklearn",
        class_names=lr.classes_,
        **providers,
    )(lr.predict_proba)

    def lr_decorated() -> Any:
        return decorated(row)

    plain = {
        "lr": per_call(lr_row, n_single, repeat, noop),
        "lr_bare": per_call(bare(lr_row), n_single, repeat, settle),
        "lr_decorated": per_call(lr_decorated, n_single, repeat, settle),
        "pipe": per_call(pipe_row, n_single, repeat, noop),
        "pipe_bare": per_call(bare(pipe_row), n_single, repeat, settle),
        "scale": per_call(scale_row, n_single, repeat, noop),
        "batch": per_call(lr_batch, n_batch, repeat, noop),
        "lr3": per_call(lr3_row, n_single, repeat, noop),
        "batch3": per_call(lr3_batch, n_batch, repeat, noop),
    }

    instrumentor = SklearnInstrumentor()
    t1 = time.perf_counter()
    instrumentor.instrument(**providers)
    t_first = time.perf_counter() - t1
    instrumentor.uninstrument()
    t1 = time.perf_counter()
    instrumentor.instrument(**providers)
    t_second = time.perf_counter() - t1

    wrapped = {
        "scale": per_call(scale_row, n_single, repeat, settle),
        "lr": per_call(lr_row, n_single, repeat, settle),
        "pipe": per_call(pipe_row, n_single, repeat, settle),
        "batch": per_call(lr_batch, n_batch, repeat, settle),
        "lr3": per_call(lr3_row, n_single, repeat, settle),
        "batch3": per_call(lr3_batch, n_batch, repeat, settle),
    }
    instrumentor.uninstrument()

    def us(seconds: float) -> str:
        return f"{seconds * 1e6:.1f} µs"

    rows: list[tuple[str, str]] = [
        ("import otel_ml.instrumentation.sklearn + sklearn estimators used", f"{t_import:.2f} s"),
        ("instrument(), first call (imports all estimator modules)", f"{t_first:.2f} s"),
        ("instrument() again after uninstrument()", f"{t_second * 1e3:.0f} ms"),
    ]
    for key, name in (("lr", "LogisticRegression"), ("pipe", "Pipeline(scaler, LR)")):
        base = plain[f"{key}_bare"] - plain[key]
        over = wrapped[key] - plain[key]
        rows += [
            (f"1 row {name}.predict_proba: uninstrumented", us(plain[key])),
            (f"1 row {name}: bare span + counter add (overhead)", us(base)),
            (f"1 row {name}: instrumented (overhead, worker drained)", us(over)),
            (f"1 row {name}: overhead ratio vs bare span + counter", f"{over / base:.2f}x"),
        ]
        if key == "lr":
            dec = plain["lr_decorated"] - plain["lr"]
            rows += [
                ("1 row LogisticRegression: @monitor, same options (overhead)", us(dec)),
                ("1 row LogisticRegression: instrumented minus @monitor", us(over - dec)),
            ]
    rows += [
        ("1 row StandardScaler.transform: uninstrumented", us(plain["scale"])),
        (
            "1 row StandardScaler.transform: guard-only wrapper (overhead)",
            us(wrapped["scale"] - plain["scale"]),
        ),
        ("10,000 x 20 predict_proba: uninstrumented", f"{plain['batch'] * 1e3:.2f} ms"),
        ("10,000 x 20 predict_proba: instrumented", f"{wrapped['batch'] * 1e3:.2f} ms"),
        (
            "10,000 x 20: whole overhead / 200,000 feature values",
            f"{(wrapped['batch'] - plain['batch']) / batch.size * 1e9:.1f} ns",
        ),
    ]
    rows += [
        ("1 row 3-class LogisticRegression: instrumented (overhead)",
         us(wrapped["lr3"] - plain["lr3"])),
        ("10,000 x 20 3-class predict_proba: instrumented (overhead)",
         f"{(wrapped['batch3'] - plain['batch3']) * 1e3:.2f} ms"),
    ]
    print("| measurement | result |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    tp.shutdown()
    lp.shutdown()
    mp.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
