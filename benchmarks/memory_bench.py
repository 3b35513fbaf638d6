"""Peak memory (and CPU time) of profiling, comparing and one monitored call, as users pass data.

Usage::

    .venv/bin/python benchmarks/memory_bench.py [--rows 100000]

Each case runs in its own fresh interpreter, after its data is built, and reports:

- ``peak RSS +MB``: the process's resident high-water mark during the operation minus its
  resident size just before (Linux: the mark is reset through ``/proc/self/clear_refs``),
  for the first run, which also pays for first-use imports and caches;
- ``CPU ms``: process CPU time of that run;
- ``traced peak MB``: the peak of ``tracemalloc`` (Python objects and numpy buffers) during
  a second, traced run.

Cases (issue 14, items 7 and 8): ``Profile.from_data`` of a ``--rows`` x 25 pandas
DataFrame (20 float columns, 5 object string columns drawn from 1,000 values, as
``pd.read_csv`` returns them); ``compare`` of that reference with a raw table of the same
shape; both together (the reference built inside the measurement); the drift verdict
from raw tables with a 10,000-row current table; and one ``@monitor`` call on a
``--rows`` x 20 float batch (no exporter configured: the no-op providers).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

CASES = ("profile", "compare", "profile+compare", "verdict 10k current", "@monitor call")


def _frame(rows: int, seed: int) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    words = np.array([f"value-{i}" for i in range(1000)], dtype=object)
    data: dict[str, Any] = {f"x{j}": rng.normal(size=rows) for j in range(20)}
    data.update({f"c{j}": words[rng.integers(0, 1000, rows)] for j in range(5)})
    return pd.DataFrame(data)


def _rss_kb(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _measure(op: Callable[[], object]) -> dict[str, float]:
    """RSS and CPU of one untraced run, then the tracemalloc peak of a second run (tracing
    slows allocation and costs memory of its own, so it is kept out of the first)."""
    import gc

    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")  # reset VmHWM to the current RSS
    except OSError:
        pass
    before = _rss_kb("VmRSS")
    t0 = time.process_time()
    op()
    cpu = time.process_time() - t0
    rss = (_rss_kb("VmHWM") - before) / 1024
    gc.collect()
    tracemalloc.start()
    op()
    _, traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"rss_mb": rss, "traced_mb": traced / 2**20, "cpu_ms": cpu * 1e3}


def _child(case: str, rows: int) -> dict[str, float]:
    import numpy as np

    import otel_ml
    from otel_ml.sketch import Profile
    from otel_ml.stats import compare

    reference = _frame(rows, 1)
    if case == "profile":
        return _measure(lambda: Profile.from_data(reference))
    if case == "compare":
        current = _frame(rows, 2)
        profile = Profile.from_data(reference)
        return _measure(lambda: compare(profile, current))
    if case == "profile+compare":
        current = _frame(rows, 2)
        return _measure(lambda: compare(Profile.from_data(reference), current))
    if case == "verdict 10k current":
        current = _frame(10_000, 2)
        return _measure(lambda: compare(Profile.from_data(reference), current).drifted)
    if case == "@monitor call":
        batch = np.random.default_rng(3).normal(size=(rows, 20))

        @otel_ml.monitor(model="bench", version="1")
        def predict(x: Any) -> Any:
            return x[:, 0]

        predict(batch[:10])  # the SDK's first-call set-up is not part of a call
        return _measure(lambda: predict(batch))
    raise SystemExit(f"unknown case {case!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(_child(args.case, args.rows)))
        return
    print(f"{'case':<22} {'peak RSS +MB':>13} {'traced peak MB':>15} {'CPU ms':>8}")
    for case in CASES:
        out = subprocess.run(
            [sys.executable, __file__, "--rows", str(args.rows), "--case", case],
            capture_output=True, text=True, check=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{case:<22} {r['rss_mb']:13.1f} {r['traced_mb']:15.1f} {r['cpu_ms']:8.1f}")


if __name__ == "__main__":
    main()
