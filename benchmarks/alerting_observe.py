"""Time of ``AlertEngine.observe`` for one window of 100 models x 50 features.

Each window carries 10,400 observations (per model: 50 feature-drift, 50
data-quality, 4 performance), judged by the built-in rules. Timed: a quiet
window (no transition), a window where every feature drift fires (5,000 firing
transitions, each queued for one notifier and emitted as a log event into the
no-op logger), and the resolution. State on disk (SQLite, WAL, synchronous=FULL)
against the same engine with its state in memory (the baseline of the same run),
so the ratio is the cost of durability. Nothing is delivered (the notifier
points at a closed port and no worker is started).

Run: ``python benchmarks/alerting_observe.py`` (about half a minute).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from otel_ml.alerting import AlertEngine, Observation, parse_alerting_config

MODELS, FEATURES, WINDOW = 100, 50, 60.0


def window(i: int, psi: float) -> list[Observation]:
    out = []
    start, end = WINDOW * i, WINDOW * (i + 1)
    for m in range(MODELS):
        model = f"model{m}"
        for f in range(FEATURES):
            out.append(Observation(model, "1", "feature_drift", psi, start, end, 1000,
                                   metric="psi", feature=f"f{f}", trace_ids=("ab" * 16,)))
            out.append(Observation(model, "1", "data_quality", 0.001, start, end, 1000,
                                   metric="missing", feature=f"f{f}"))
        for metric in ("accuracy", "precision", "recall", "f1"):
            out.append(Observation(model, "1", "performance", 0.9, start, end, 1000,
                                   metric=metric))
    return out


def run(state_dir: Path | None) -> dict[str, float]:
    config = parse_alerting_config({
        "alerts": {"defaults": {"for_windows": 1, "resolve_after_windows": 1}},
        "notifiers": {"hook": {"type": "webhook", "url": "http://127.0.0.1:9/"}},
    })
    engine = AlertEngine(config, state_dir=state_dir)
    phases = [("quiet", 0.01)] * 3 + [("fire", 0.3), ("quiet firing", 0.3), ("resolve", 0.01)]
    times: dict[str, list[float]] = {}
    for i, (name, psi) in enumerate(phases):
        obs = window(i, psi)
        t = time.perf_counter()
        engine.observe(obs, now=WINDOW * (i + 1) + 1)
        times.setdefault(name, []).append(time.perf_counter() - t)
    engine.close()
    return {name: statistics.median(ts) for name, ts in times.items()}


def main() -> None:
    n = len(window(0, 0.0))
    memory = run(None)
    with tempfile.TemporaryDirectory() as tmp:
        disk = run(Path(tmp))
    print(f"{MODELS} models x {FEATURES} features: {n} observations per window")
    print(f"{'window':<14}{'in memory':>12}{'on disk':>12}{'ratio':>8}{'us/obs (disk)':>15}")
    for name in memory:
        print(f"{name:<14}{memory[name] * 1e3:>10.0f}ms{disk[name] * 1e3:>10.0f}ms"
              f"{disk[name] / memory[name]:>8.2f}{disk[name] / n * 1e6:>15.1f}")


if __name__ == "__main__":
    main()
