"""Cost of the XGBoost, LightGBM and CatBoost instrumentors, against the bare calls.

Run from the repository root::

    .venv/bin/python benchmarks/trees_overhead.py                 # every installed framework
    .venv/bin/python benchmarks/trees_overhead.py --quick xgboost # fewer repetitions, one

Per framework, in one process, for ``predict_proba`` of its scikit-learn-API classifier
(100 trees of depth 6 on 20 features): one row and a 10,000-row batch, each

- uninstrumented (the bare framework call),
- inside one bare OTel span plus one counter add (the baseline of the overhead), and
- instrumented (``<Framework>Instrumentor().instrument()``; the call is one monitored
  call: span, counters, feature and prediction sketches, the prediction event).

Times are process CPU time per call (all threads, so the background worker's sketches
and events count), least of the repetitions; instrumented timings include draining the
worker. The frameworks run single-threaded (``n_jobs=1`` / ``thread_count=1``) so
their own thread pools do not blur the CPU time. SDK providers are wired like a
service (batch span and log processors, a periodic metric reader through the sketch
bridge) to exporters that drop the data. Results print as a Markdown table.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
from _null_sdk import NullService, per_call

FRAMEWORKS = ("xgboost", "lightgbm", "catboost")


def _model(framework: str, X: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
    """The fitted classifier and its instrumentor."""
    if framework == "xgboost":
        import xgboost as xgb

        from otel_ml.instrumentation.xgboost import XGBoostInstrumentor

        clf = xgb.XGBClassifier(n_estimators=100, max_depth=6, n_jobs=1)
        return clf.fit(X, y), XGBoostInstrumentor()
    if framework == "lightgbm":
        import lightgbm as lgb

        from otel_ml.instrumentation.lightgbm import LightGBMInstrumentor

        clf = lgb.LGBMClassifier(n_estimators=100, max_depth=6, n_jobs=1, verbose=-1)
        return clf.fit(X, y), LightGBMInstrumentor()
    import catboost as cb

    from otel_ml.instrumentation.catboost import CatBoostInstrumentor

    clf = cb.CatBoostClassifier(iterations=100, depth=6, thread_count=1, verbose=0,
                                allow_writing_files=False)
    return clf.fit(X, y), CatBoostInstrumentor()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("frameworks", nargs="*", choices=[*FRAMEWORKS, []],
                        help="default: every one installed")
    args = parser.parse_args(argv)
    repeat = 3 if args.quick else 7
    n_single = 300 if args.quick else 2_000
    n_batch = 5 if args.quick else 20
    frameworks = args.frameworks or [f for f in FRAMEWORKS if importlib.util.find_spec(f)]


    sdk = NullService()
    tp, lp, mp = sdk.tp, sdk.lp, sdk.mp
    providers = sdk.providers

    rng = np.random.default_rng(0)
    X = rng.normal(size=(2_000, 20))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    row = X[:1]
    batch = rng.normal(size=(10_000, 20))

    def noop() -> None:
        pass

    settle = sdk.settle

    bare = sdk.bare

    def us(seconds: float) -> str:
        return f"{seconds * 1e6:.1f} µs"

    print("| framework | measurement | result |\n|---|---|---|")
    for framework in frameworks:
        clf, instrumentor = _model(framework, X, y)
        cls = type(clf).__name__

        def one(clf: Any = clf) -> Any:
            return clf.predict_proba(row)

        def many(clf: Any = clf) -> Any:
            return clf.predict_proba(batch)

        plain = {
            "row": per_call(one, n_single, repeat, noop),
            "row_bare": per_call(bare(one), n_single, repeat, settle),
            "batch": per_call(many, n_batch, repeat, noop),
            "batch_bare": per_call(bare(many), n_batch, repeat, settle),
        }
        instrumentor.instrument(**providers)
        one()  # the model's name and options are resolved once, at its first call
        wrapped = {
            "row": per_call(one, n_single, repeat, settle),
            "batch": per_call(many, n_batch, repeat, settle),
        }
        instrumentor.uninstrument()
        row_base = plain["row_bare"] - plain["row"]
        row_over = wrapped["row"] - plain["row"]
        batch_base = plain["batch_bare"] - plain["batch"]
        batch_over = wrapped["batch"] - plain["batch"]
        rows = [
            (f"1 row {cls}.predict_proba: uninstrumented", us(plain["row"])),
            ("1 row: bare span + counter add (overhead)", us(row_base)),
            ("1 row: instrumented (overhead, worker drained)", us(row_over)),
            ("1 row: overhead ratio vs bare span + counter", f"{row_over / row_base:.2f}x"),
            ("1 row: overhead / uninstrumented call", f"{row_over / plain['row']:.1%}"),
            ("10,000 x 20: uninstrumented", f"{plain['batch'] * 1e3:.2f} ms"),
            ("10,000 x 20: bare span + counter add (overhead)", us(batch_base)),
            ("10,000 x 20: instrumented (overhead)", f"{batch_over * 1e3:.2f} ms"),
            ("10,000 x 20: overhead / uninstrumented call", f"{batch_over / plain['batch']:.1%}"),
            ("10,000 x 20: overhead per feature value (200,000)",
             f"{batch_over / batch.size * 1e9:.1f} ns"),
        ]
        for name, value in rows:
            print(f"| {framework} | {name} | {value} |")
        sys.stdout.flush()
    tp.shutdown()
    lp.shutdown()
    mp.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
