"""Cost of a NumericSketch update, per value, next to plain numpy binning in the same run.

Usage::

    .venv/bin/python benchmarks/sketch_bench.py [--rows 10000] [--cols 20] [--repeat 7]

Prints process CPU nanoseconds per value (best of ``--repeat``) for:

- ``SDK feature capture``: what a monitored call does with a 10,000 x 20 numpy batch
  (columns of the 2-D array, one sketch and the quality counts per column, no reference);
- ``sketch, steady``: ``NumericSketch.update`` column by column on a 10,000 x 20 float
  matrix (standard normal: both signs, values near zero spanning many octaves), on
  sketches that already hold a batch (the SDK's case: one sketch per feature per
  export interval);
- ``sketch, fresh``: the same on new sketches (scale chosen from the batch);
- ``sketch, positive``: a log-normal matrix (one sign, no zeros);
- baselines: ``numpy.searchsorted`` + ``numpy.bincount`` against 16 and 256 edges, and an
  arithmetic bucket index (``floor``) + one ``bincount`` — the cheapest binning numpy allows.

The machine is shared and noisy: read the ratios to the baselines, not the absolute numbers
(CPU time is steadier than wall time under load, not immune: caches and cores are shared).
"""

from __future__ import annotations

import argparse
import time
import timeit
from collections.abc import Callable

import numpy as np

from otel_ml.instrumentation._features import capture
from otel_ml.instrumentation._inputs import to_table
from otel_ml.instrumentation._options import MonitorOptions
from otel_ml.sketch import NumericSketch


def best_ns_per_value(fn: Callable[[], object], values: int, repeat: int) -> float:
    """Best process CPU time per value (other jobs on a shared machine do not count)."""
    number = 5
    times = timeit.repeat(fn, number=number, repeat=repeat, timer=time.process_time)
    return min(times) / number / values * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--cols", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    normal = rng.normal(size=(args.rows, args.cols))
    lognormal = rng.lognormal(size=(args.rows, args.cols))
    columns = [normal[:, j] for j in range(args.cols)]
    positive = [lognormal[:, j] for j in range(args.cols)]
    n = args.rows * args.cols

    steady = [NumericSketch() for _ in columns]
    for s, c in zip(steady, columns, strict=True):
        s.update(c)
    steady_pos = [NumericSketch() for _ in positive]
    for s, c in zip(steady_pos, positive, strict=True):
        s.update(c)

    def sketch_steady() -> None:
        for s, c in zip(steady, columns, strict=True):
            s.update(c)

    def sketch_fresh() -> None:
        for c in columns:
            NumericSketch().update(c)

    def sketch_positive() -> None:
        for s, c in zip(steady_pos, positive, strict=True):
            s.update(c)

    def searchsorted(edges: np.ndarray) -> Callable[[], None]:
        def run() -> None:
            for c in columns:
                np.bincount(np.searchsorted(edges, c), minlength=edges.size + 1)

        return run

    edges16 = np.quantile(normal, np.linspace(0, 1, 17)[1:-1])
    edges256 = np.quantile(normal, np.linspace(0, 1, 257)[1:-1])

    def arithmetic() -> None:
        for c in columns:
            idx = np.floor((c + 5.0) * 25.0).astype(np.intp)
            np.bincount(np.clip(idx, 0, 255), minlength=256)

    options = MonitorOptions(model="bench")

    def sdk_capture() -> None:
        capture(to_table(normal), options, None)

    rows = [
        ("SDK feature capture of the 2-D batch (normal)", sdk_capture),
        ("sketch, steady (normal)", sketch_steady),
        ("sketch, fresh (normal)", sketch_fresh),
        ("sketch, steady (log-normal, one sign)", sketch_positive),
        ("baseline: searchsorted + bincount, 16 bins", searchsorted(edges16)),
        ("baseline: searchsorted + bincount, 256 bins", searchsorted(edges256)),
        ("baseline: arithmetic index + bincount", arithmetic),
    ]
    results = {name: best_ns_per_value(fn, n, args.repeat) for name, fn in rows}
    base = results["baseline: searchsorted + bincount, 16 bins"]
    print(f"{args.rows} x {args.cols} float64, best of {args.repeat}")
    print(f"{'':46s} {'ns/value':>9s} {'vs searchsorted16':>18s}")
    for name, ns in results.items():
        print(f"{name:46s} {ns:9.1f} {ns / base:17.2f}x")


if __name__ == "__main__":
    main()
