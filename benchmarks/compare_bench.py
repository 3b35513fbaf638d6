"""Time of ``otel_ml.compare`` for 25 features, against the rows behind the sketches.

25 features: 20 numeric (normal, lognormal, Poisson, uniform, mixed-sign with zeros,
four of each) and 5 categorical (5, 20, 100, 500 and 1,000 values). The reference
and current profiles are built once per size; only ``compare(reference, current)``
(both sketched) is timed, so the time should not move with the row counts. For
scale, the same run times scipy's raw-data tests (``ks_2samp`` on the 20 numeric
columns, ``chi2_contingency`` on the 5 categorical ones) at 100,000 vs 10,000 rows,
and ``compare`` of a profile against a raw 10,000-row table (sketching included).

Run: ``python benchmarks/compare_bench.py`` (about a minute).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from scipy import stats

from otel_ml.sketch import NumericSketch, Profile
from otel_ml.stats import compare, compare_feature

try:
    from otel_ml.stats import NumericReference
except ImportError:  # the code before NumericReference, for before/after runs
    NumericReference = None  # type: ignore[assignment,misc]
try:
    from otel_ml.stats import compare_features
except ImportError:  # the code before compare_features, for before/after runs
    compare_features = None  # type: ignore[assignment]

N_NUMERIC, N_CATEGORICAL = 20, 5
CARDINALITIES = (5, 20, 100, 500, 1000)


def table(rng: np.random.Generator, n: int) -> dict[str, npt.NDArray[np.generic]]:
    cols: dict[str, npt.NDArray[np.generic]] = {}
    makers: list[Callable[[], npt.NDArray[np.generic]]] = [
        lambda: rng.normal(0, 1, n),
        lambda: rng.lognormal(3, 1, n),
        lambda: rng.poisson(3, n),
        lambda: rng.uniform(-50, 50, n),
        lambda: np.where(rng.uniform(size=n) < 0.3, 0.0, rng.normal(0, 100, n)),
    ]
    for i in range(N_NUMERIC):
        cols[f"num{i:02d}"] = makers[i % len(makers)]()
    for k in CARDINALITIES:
        p = 1.0 / np.arange(1, k + 1)
        names = np.array([f"v{j}" for j in range(k)])
        cols[f"cat{k}"] = names[rng.choice(k, n, p=p / p.sum())]
    return cols


def timeit(fn: Callable[[], object], repeat: int) -> float:
    """Median CPU seconds of ``repeat`` calls (after one warm-up call).

    CPU time of this process (``time.process_time``), not wall time: on a shared
    machine wall time mostly measures how long the scheduler kept us waiting.
    Several calls are timed together when one is shorter than the clock's tick.
    """
    fn()
    inner = 1
    while True:
        t = time.process_time()
        for _ in range(inner):
            fn()
        if time.process_time() - t > 0.02 or inner >= 1000:
            break
        inner *= 4
    times = []
    for _ in range(repeat):
        t = time.process_time()
        for _ in range(inner):
            fn()
        times.append((time.process_time() - t) / inner)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)

    profiles = {n: Profile.from_data(table(rng, n)) for n in (10_000, 100_000, 1_000_000)}
    currents = {m: Profile.from_data(table(rng, m)) for m in (1_000, 10_000, 100_000, 1_000_000)}

    print("### `compare(reference, current)` on 25 features, both sides sketched\n")
    print("| reference rows | current rows | compare, CPU ms (median of "
          f"{args.repeat}) | per feature, ms |")
    print("|---:|---:|---:|---:|")
    all_ms = []
    for n, ref in profiles.items():
        for m, cur in currents.items():
            s = timeit(lambda ref=ref, cur=cur: compare(ref, cur), args.repeat)
            all_ms.append(1000 * s)
            print(f"| {n:,} | {m:,} | {1000 * s:.1f} | {1000 * s / 25:.2f} |", flush=True)
    print(f"\nSpread over all sizes: {min(all_ms):.1f}–{max(all_ms):.1f} ms.\n")

    ref, cur = profiles[100_000], currents[10_000]
    print("### One feature (`compare_feature`, 100,000 vs 10,000 rows)\n")
    print("| feature | kind | CPU ms | CPU ms, reference prepared once (`NumericReference`) |")
    print("|---|---|---:|---:|")
    for name in ("num00", "num01", "num02", "num03", "num04", "cat5", "cat1000"):
        f_ref, f_cur = ref.features[name], cur.features[name]
        s = timeit(lambda f_ref=f_ref, f_cur=f_cur, name=name: compare_feature(
            name, f_ref.sketch, f_cur.sketch), 5 * args.repeat)
        prepared = "n/a"
        if NumericReference is not None and isinstance(f_ref.sketch, NumericSketch):
            r = NumericReference(f_ref.sketch)
            sp = timeit(lambda r=r, f_cur=f_cur, name=name: compare_feature(
                name, r, f_cur.sketch), 5 * args.repeat)
            prepared = f"{1000 * sp:.3f}"
        print(f"| {name} | {f_ref.kind.value} | {1000 * s:.3f} | {prepared} |", flush=True)

    if NumericReference is not None:
        # What the evaluator does with a window: every numeric feature against its
        # prepared reference, one call per feature or all in one call.
        numeric = [n for n, f in ref.features.items() if isinstance(f.sketch, NumericSketch)]
        prepared_refs = {n: NumericReference(ref.features[n].sketch) for n in numeric}
        pairs = [(n, prepared_refs[n], cur.features[n].sketch) for n in numeric]
        k = len(pairs)
        one = timeit(lambda: [compare_feature(n, r, c, n_tests=k) for n, r, c in pairs],
                     args.repeat)
        print(f"\n### The {k} numeric features of a window, references prepared "
              "(100,000 vs 10,000 rows)\n")
        print("| how | CPU ms | per feature, ms |")
        print("|---|---:|---:|")
        print(f"| `compare_feature` one by one | {1000 * one:.2f} | {1000 * one / k:.3f} |")
        if compare_features is not None:
            together = timeit(lambda: compare_features(pairs, n_tests=k), args.repeat)
            print(f"| `compare_features`, all in one call | {1000 * together:.2f} | "
                  f"{1000 * together / k:.3f} |")
            print(f"\nRatio one by one / together: {one / together:.1f}\n", flush=True)

    raw_ref, raw_cur = table(rng, 100_000), table(rng, 10_000)

    def scipy_raw() -> None:
        for name in raw_ref:
            if name.startswith("num"):
                stats.ks_2samp(raw_ref[name], raw_cur[name])
            else:
                a, b = raw_ref[name], raw_cur[name]
                cats = np.union1d(a, b)
                counts = [np.bincount(np.searchsorted(cats, x), minlength=cats.size)
                          for x in (a, b)]
                stats.chi2_contingency(np.vstack(counts))

    s_scipy = timeit(scipy_raw, max(3, args.repeat // 5))
    s_sketch = timeit(lambda: compare(ref, cur), args.repeat)
    s_raw = timeit(lambda: compare(ref, raw_cur), max(3, args.repeat // 5))
    print("\n### Same run, for scale (100,000 vs 10,000 rows, 25 features)\n")
    print("| what | CPU ms | ratio to compare on sketches |")
    print("|---|---:|---:|")
    print(f"| `compare` on two profiles (sketches) | {1000 * s_sketch:.1f} | 1.0 |")
    print(f"| `compare` on a profile and a raw 10,000-row table (sketching included) | "
          f"{1000 * s_raw:.1f} | {s_raw / s_sketch:.1f} |")
    print(f"| scipy on the raw columns (`ks_2samp` x20, `chi2_contingency` x5) | "
          f"{1000 * s_scipy:.1f} | {s_scipy / s_sketch:.1f} |")


if __name__ == "__main__":
    main()
