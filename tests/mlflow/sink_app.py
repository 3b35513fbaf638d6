"""A model service for the MLflow sink test (run as a subprocess, not a test).

``python sink_app.py ENDPOINT T0 FIRST LAST DRIFT_FROM``: for each window ``k`` in
``FIRST .. LAST - 1`` (one minute each from ``T0``, on a simulated clock), predicts
``ROWS`` rows with a ``@otel_ml.monitor``-decorated function (feature ``x1`` shifted from
window ``DRIFT_FROM`` on), sends the labels of 80 % of them with ``record_outcome``, and
exports everything with the real OTel OTLP exporters before moving on to the next window.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

import otel_ml
from otel_ml.instrumentation import use_clock

MODEL, VERSION = "credit", "7"
ROWS = 300
WINDOW = 60.0


def model_proba(df: pd.DataFrame) -> np.ndarray:
    z = 1.5 * df["x1"].to_numpy() - 0.5 * (df["x2"].to_numpy() - 5.0)
    p = 1.0 / (1.0 + np.exp(-z))
    return np.column_stack([1.0 - p, p])


def frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x1": rng.normal(0.0, 1.0, n),
            "x2": rng.normal(5.0, 2.0, n),
            "region": rng.choice(["north", "south", "east"], n, p=[0.5, 0.3, 0.2]),
        }
    )


def main() -> None:
    endpoint, t0, first, last, drift_from = sys.argv[1:6]
    now = [float(t0)]
    use_clock(lambda: int(now[0] * 1e9))
    cfg = otel_ml.configure(
        service_name="credit-api", endpoint=endpoint, protocol="http/protobuf",
        export_interval=3600.0,  # exports happen at cfg.flush(), once per window
    )

    @otel_ml.monitor(model=MODEL, version=VERSION, class_names=["0", "1"])
    def predict(df: pd.DataFrame) -> np.ndarray:
        return model_proba(df)

    for k in range(int(first), int(last)):
        rng = np.random.default_rng(k)
        now[0] = float(t0) + k * WINDOW + 5.0
        df = frame(rng, ROWS)
        if k >= int(drift_from):
            df["x1"] += 1.5
        ids: list[str] = []
        for part in range(3):
            predict(df.iloc[part * 100 : (part + 1) * 100])
            ids += [str(i) for i in otel_ml.last_prediction_ids()]
        y = (rng.random(ROWS) < model_proba(df)[:, 1]).astype(int)
        labelled = rng.random(ROWS) < 0.8
        now[0] += 10.0
        otel_ml.record_outcome(
            model=MODEL,
            ids=[i for i, keep in zip(ids, labelled, strict=True) if keep],
            actuals=[str(v) for v, keep in zip(y, labelled, strict=True) if keep],
        )
        otel_ml.flush()
        cfg.flush()
    cfg.shutdown()


if __name__ == "__main__":
    main()
