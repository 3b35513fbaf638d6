"""Cost of categorical capture per value, next to pandas' hash-based counting in the same run.

Usage::

    .venv/bin/python benchmarks/categorical_bench.py [--rows 100000] [--values 1000] [--repeat 9]

Prints process CPU nanoseconds per value (best of ``--repeat``) of
``CategoricalSketch.update`` on ``--rows`` strings drawn from ``--values`` distinct
ones, given as users pass them: a numpy object array (what ``pd.read_csv`` columns hold),
a numpy ``'U'`` array, and pandas Series of ``object``, ``string`` and ``category``
dtype; and, as baselines measured in the same run, ``Series.value_counts`` (pandas'
hash table, the cheapest counting available here) and ``collections.Counter`` on a
list. Then ``Profile.from_data`` on a 100,000-row DataFrame with 20 numeric and 5
such string columns (issue 14, items 6-7), with the numeric columns alone beside it.

The machine is shared and noisy: read the ratios, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import collections
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from otel_ml.sketch import CategoricalSketch, Profile


def cpu_ns(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time_ns()
        fn()
        best = min(best, time.process_time_ns() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--values", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    words = np.array([f"value-{i}" for i in range(args.values)], dtype=object)
    column = words[rng.integers(0, args.values, args.rows)]
    series = pd.Series(column)
    inputs: dict[str, object] = {
        "numpy object": column,
        "numpy 'U'": column.astype(str),
        "pandas object": series,
        "pandas string": series.astype("string"),
        "pandas category": series.astype("category"),
    }
    n = args.rows
    baseline = cpu_ns(lambda: series.value_counts(dropna=False), args.repeat) / n
    print(f"{'input':<18} {'ns/value':>9} {'x value_counts':>15}")
    for name, x in inputs.items():
        ns = cpu_ns(lambda x=x: CategoricalSketch().update(x), args.repeat) / n
        print(f"{name:<18} {ns:9.1f} {ns / baseline:15.2f}")
    counter = cpu_ns(lambda: collections.Counter(column.tolist()), args.repeat) / n
    print(f"{'(value_counts)':<18} {baseline:9.1f} {1.0:15.2f}")
    print(f"{'(Counter, list)':<18} {counter:9.1f} {counter / baseline:15.2f}")

    rows = 100_000
    numeric = {f"x{j}": rng.normal(size=rows) for j in range(20)}
    text = {f"c{j}": words[rng.integers(0, args.values, rows)] for j in range(5)}
    frame = pd.DataFrame({**numeric, **text})
    only_numeric = pd.DataFrame(numeric)
    whole = cpu_ns(lambda: Profile.from_data(frame), max(3, args.repeat // 3)) / 1e6
    nums = cpu_ns(lambda: Profile.from_data(only_numeric), max(3, args.repeat // 3)) / 1e6
    print(
        f"\nProfile.from_data, {rows:,} rows, 20 numeric + 5 object string columns: "
        f"{whole:.1f} ms (numeric columns alone {nums:.1f} ms; the 5 string columns "
        f"{(whole - nums) * 1e6 / (5 * rows):.0f} ns/value)"
    )


if __name__ == "__main__":
    main()
