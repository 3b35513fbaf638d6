"""Memory stays bounded over a long run of high-cardinality input (measured with tracemalloc)."""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np
import pandas as pd
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.trace import TracerProvider

import otel_ml
from otel_ml.instrumentation import Aggregator, flush


def _run(predict: object, start: int, n_batches: int) -> None:
    for b in range(start, start + n_batches):
        base = b * 2_000
        df = pd.DataFrame(
            {
                # every batch brings 2,000 never-seen categories and new values
                "user": np.char.add("u", np.arange(base, base + 2_000).astype(str)),
                "amount": np.random.default_rng(b).lognormal(3, 2, 2_000) * (-1) ** b,
            }
        )
        predict(df)  # type: ignore[operator]
        for i in range(20):  # and single rows with fresh categories and fresh column names
            predict({"user": f"s{base + i}", "amount": float(i), f"col{base + i}": 1.0})  # type: ignore[operator]
    flush()


def test_memory_is_bounded_under_high_cardinality() -> None:
    agg = Aggregator()
    consumer = agg.register()
    # Providers without processors: spans and events are created and dropped, so only
    # otel_ml's own state can grow.
    kwargs = {"tracer_provider": TracerProvider(), "logger_provider": LoggerProvider()}

    @otel_ml.monitor(model="mem", aggregator=agg, **kwargs)  # type: ignore[arg-type]
    def predict(x: object) -> np.ndarray:
        return np.zeros(1)

    _run(predict, 0, 20)  # warm up: sketches, caches, worker thread
    consumer.collect()
    gc.collect()
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        growth = []
        for step in range(4):  # 4 x 30 batches: 240,000 distinct categories, 2,400 single rows
            _run(predict, 20 + 30 * step, 30)
            if step % 2:
                consumer.collect()  # an exporter reads every other step
            gc.collect()
            growth.append(tracemalloc.get_traced_memory()[0] - base)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"memory growth after each step (bytes): {growth}, peak {peak - base}")
    # Bounded: the last step holds no more than the first (no growth with input count),
    # and the total stays small (sketches are O(max_categories + buckets) per feature).
    assert growth[-1] < 2_000_000
    assert growth[-1] <= growth[0] + 500_000
