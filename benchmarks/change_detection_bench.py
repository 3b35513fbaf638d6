"""Change detectors on error streams: ours (``otel_ml.stats``) against river's, same streams.

Run from the repository root with the project's venv (river is in the ``dev`` extra)::

    .venv/bin/python benchmarks/change_detection_bench.py --seeds 20
    .venv/bin/python benchmarks/change_detection_bench.py --quick     # 3 seeds, smaller

Streams (each seed gives a stream with a change and a twin without one; 10,000 values,
the change centred at value 5,000):

- ``SEA 0→2`` and ``Agrawal 0→2``: river's ``synth.ConceptDriftStream`` (width 50, the
  shortest whose sigmoid does not overflow) from concept 0 to concept 2 of the
  generator; a ``StandardScaler | LogisticRegression`` learns the first 2,000 samples,
  then is frozen (a deployed model) and its 0/1 errors on the next 10,000 are the
  stream. The twin without a change goes from concept 0 to concept 0 (another seed).
- ``0/1, 0.10→0.20``: Bernoulli errors whose rate doubles; ``|err| ×1.5``: absolute
  errors ``|N(0, 1)|`` whose scale grows by half (the twins keep the first rate/scale),
  raw and as the evaluator feeds a regressor's (in units of ten times the first 100's
  mean, capped at 1).

For each detector (Page-Hinkley and ADWIN with river's defaults, and Page-Hinkley
``mode="up"`` as the evaluator runs it) and each stream family: whether ours and
river's signal at the same indices on every stream; the share of changed streams where
a change is signalled after it (within 5,000 values); the median and mean delay of the
first such signal; false alarms (signals before the change, and any signal on the
twins) per 10,000 values; and, ours only, the mean distance of the estimated start from
the true one. Then the cost of one update: process CPU time of ours over river's on the
same values (river's ADWIN is compiled Rust, its Page-Hinkley Python).

``--write`` puts the tables into ``docs/benchmarks.md`` between marker comments.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from river import drift, linear_model, preprocessing
from river.datasets import synth

from otel_ml.evaluator._change_detection import REGRESSION_CAP, _scale
from otel_ml.stats import ADWIN, PageHinkley

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
BEGIN = "<!-- change_detection:begin (written by benchmarks/change_detection_bench.py) -->"
END = "<!-- change_detection:end -->"
N, POS, TRAIN, HORIZON = 10_000, 5_000, 2_000, 5_000


def _concept_stream(
    make: Callable[[int, int], object], seed: int, change: bool, n: int
) -> list[float]:
    pos = n // 2
    s = synth.ConceptDriftStream(
        stream=make(0, seed),
        drift_stream=make(2 if change else 0, seed + 1000),
        position=TRAIN + pos,
        width=50,
        seed=seed,
    )
    model = preprocessing.StandardScaler() | linear_model.LogisticRegression()
    out = []
    for i, (x, y) in enumerate(s.take(n + TRAIN)):  # type: ignore[attr-defined]
        if i < TRAIN:
            model.learn_one(x, y)
        else:
            out.append(float(model.predict_one(x) != y))
    return out


def _sea(seed: int, change: bool, n: int) -> list[float]:
    return _concept_stream(lambda v, s: synth.SEA(variant=v, seed=s), seed, change, n)


def _agrawal(seed: int, change: bool, n: int) -> list[float]:
    return _concept_stream(
        lambda v, s: synth.Agrawal(classification_function=v, seed=s), seed, change, n
    )


def _bernoulli(seed: int, change: bool, n: int) -> list[float]:
    rng = np.random.default_rng(seed)
    p = np.where(np.arange(n) < n // 2, 0.1, 0.2 if change else 0.1)
    return [float(v) for v in rng.random(n) < p]


def _absolute(seed: int, change: bool, n: int) -> list[float]:
    rng = np.random.default_rng(seed)
    scale = np.where(np.arange(n) < n // 2, 1.0, 1.5 if change else 1.0)
    return [float(v) for v in np.abs(rng.normal(0.0, scale))]


def _absolute_fed(seed: int, change: bool, n: int) -> list[float]:
    """The same absolute errors as the evaluator feeds a regressor's: divided by ten
    times the mean of the first 100 (capped at ten times their median), capped at 1."""
    errors = _absolute(seed, change, n)
    scale = _scale(errors[:100])
    return [min(e / scale, REGRESSION_CAP) for e in errors]


FAMILIES: dict[str, Callable[[int, bool, int], list[float]]] = {
    "SEA 0→2 (frozen LogReg)": _sea,
    "Agrawal 0→2 (frozen LogReg)": _agrawal,
    "0/1 errors, 0.10→0.20": _bernoulli,
    "absolute errors, ×1.5": _absolute,
    "absolute errors, ×1.5, as the evaluator feeds them": _absolute_fed,
}

DETECTORS: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
    "Page-Hinkley": (PageHinkley, drift.PageHinkley),
    "Page-Hinkley (mode up)": (
        lambda: PageHinkley(mode="up"),
        lambda: drift.PageHinkley(mode="up"),
    ),
    "ADWIN": (ADWIN, drift.ADWIN),
}


def _signals(det: object, stream: Sequence[float]) -> tuple[list[int], list[int]]:
    """Indices where ``det`` signals, and (ours only) the estimated starts."""
    out, starts = [], []
    update = det.update  # type: ignore[attr-defined]
    for i, x in enumerate(stream):
        update(x)
        if det.drift_detected:  # type: ignore[attr-defined]
            out.append(i)
            change = getattr(det, "change", None)
            if change is not None:
                starts.append(change.start_index)
    return out, starts


def _cpu(make: Callable[[], object], streams: Sequence[Sequence[float]], repeat: int) -> float:
    """Best process CPU seconds per update over ``repeat`` passes of every stream."""
    best = float("inf")
    n = sum(len(s) for s in streams)
    for _ in range(repeat):
        t0 = time.process_time()
        for s in streams:
            det = make()
            update = det.update  # type: ignore[attr-defined]
            for x in s:
                update(x)
                det.drift_detected  # type: ignore[attr-defined]  # noqa: B018 - read as a user would
        best = min(best, time.process_time() - t0)
    return best / n


@dataclass
class Row:
    family: str
    detector: str
    identical: str
    detected: float
    median_delay: float
    mean_delay: float
    false_alarms: float
    start_error: float


def _measure(family: str, streams: list[tuple[list[float], list[float]]], detector: str) -> Row:
    ours_make, river_make = DETECTORS[detector]
    same = 0
    delays: list[int] = []
    false_alarms = 0
    values = 0
    start_errors: list[int] = []
    for changed, twin in streams:
        pos = len(changed) // 2
        for stream in (changed, twin):
            ours, starts = _signals(ours_make(), stream)
            theirs, _ = _signals(river_make(), stream)
            same += ours == theirs
        ours, starts = _signals(ours_make(), changed)
        after = [(i, s) for i, s in zip(ours, starts, strict=True) if pos <= i < pos + HORIZON]
        if after:
            delays.append(after[0][0] - pos)
            start_errors.append(abs(after[0][1] - pos))
        false_alarms += sum(1 for i in ours if i < pos)
        values += pos
        twin_signals, _ = _signals(ours_make(), twin)
        false_alarms += len(twin_signals)
        values += len(twin)
    return Row(
        family,
        detector,
        f"{same}/{2 * len(streams)}",
        len(delays) / len(streams),
        statistics.median(delays) if delays else float("nan"),
        statistics.fmean(delays) if delays else float("nan"),
        false_alarms / values * 10_000,
        statistics.fmean(start_errors) if start_errors else float("nan"),
    )


def _table(rows: list[Row]) -> str:
    lines = [
        "| stream | detector | same indices as river | changes found | median delay | "
        "mean delay | false alarms / 10,000 | start estimate error (ours) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.family} | {r.detector} | {r.identical} | {r.detected:.0%} | "
            f"{r.median_delay:.0f} | {r.mean_delay:.0f} | {r.false_alarms:.2f} | "
            f"{r.start_error:.0f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--quick", action="store_true", help="3 seeds, cost on fewer values")
    ap.add_argument("--repeat", type=int, default=3, help="passes for the cost (best of)")
    ap.add_argument("--write", action="store_true", help="write into docs/benchmarks.md")
    args = ap.parse_args(argv)
    seeds = 3 if args.quick else args.seeds
    t0 = time.time()
    streams = {
        name: [(make(s, True, N), make(s, False, N)) for s in range(seeds)]
        for name, make in FAMILIES.items()
    }
    print(f"streams made in {time.time() - t0:.0f} s", file=sys.stderr)
    rows = [_measure(f, st, d) for f, st in streams.items() for d in DETECTORS]
    detection = _table(rows)
    cost_streams = [s for pairs in streams.values() for pair in pairs[:2] for s in pair]
    cost_lines = [
        "| detector | ours (µs / update) | river (µs / update) | ours / river |",
        "|---|---|---|---|",
    ]
    for name in ("Page-Hinkley", "ADWIN"):
        ours_make, river_make = DETECTORS[name]
        ours = _cpu(ours_make, cost_streams, args.repeat)
        theirs = _cpu(river_make, cost_streams, args.repeat)
        cost_lines.append(
            f"| {name} | {ours * 1e6:.2f} | {theirs * 1e6:.2f} | {ours / theirs:.2f} |"
        )
    cost = "\n".join(cost_lines)
    n_values = sum(len(s) for s in cost_streams)
    text = (
        f"{seeds} seeds × {len(FAMILIES)} stream families, each a stream with a change and "
        f"a twin without ({N:,} values, change at {POS:,}); delays and start errors in "
        f"values, first signal within {HORIZON:,} after the change.\n\n{detection}\n\n"
        f"Cost of one update (``update`` then reading ``drift_detected``), process CPU "
        f"time, best of {args.repeat} passes over {n_values:,} values of these streams:\n\n"
        f"{cost}\n"
    )
    print(text)
    if args.write:
        doc = DOC.read_text(encoding="utf-8")
        block = f"{BEGIN}\n{text}{END}"
        if BEGIN in doc:
            doc = re.sub(
                re.escape(BEGIN) + r".*?" + re.escape(END), lambda _: block, doc, flags=re.S
            )
        else:
            raise SystemExit(f"{DOC}: no {BEGIN!r} marker; add the section first")
        DOC.write_text(doc, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
