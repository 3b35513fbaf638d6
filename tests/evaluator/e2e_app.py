"""A model service for the evaluator's end-to-end test (run as a subprocess, not a test).

``python e2e_app.py ENDPOINT PROTOCOL OUT.npz SEED N_ROWS INSTANCE``: predicts with a
``@otel_ml.monitor``-decorated function whose traffic has a drifted ``x1``, then sends
the labels of 70 % of the rows with ``otel_ml.record_outcome``, exporting everything
with the real OTel OTLP exporters; saves the raw data it used to ``OUT.npz``.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

import otel_ml

MODEL, VERSION = "credit", "1"
DRIFT = 0.8


def model_proba(df: pd.DataFrame) -> np.ndarray:
    z = 1.5 * df["x1"].to_numpy() - 0.5 * (df["x2"].to_numpy() - 5.0)
    p = 1.0 / (1.0 + np.exp(-z))
    return np.column_stack([1.0 - p, p])


def reference_frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x1": rng.normal(0.0, 1.0, n),
            "x2": rng.normal(5.0, 2.0, n),
            "region": rng.choice(["north", "south", "east"], n, p=[0.5, 0.3, 0.2]),
        }
    )


def main() -> None:
    endpoint, protocol, out, seed, n_rows, instance = sys.argv[1:7]
    rng = np.random.default_rng(int(seed))
    cfg = otel_ml.configure(
        service_name="credit-api",
        resource_attributes={"service.instance.id": instance},
        endpoint=endpoint,
        protocol=protocol,
        export_interval=0.5,
    )

    @otel_ml.monitor(model=MODEL, version=VERSION, class_names=["0", "1"])
    def predict(df: pd.DataFrame) -> np.ndarray:
        return model_proba(df)

    frames, probas, ids = [], [], []
    n = int(n_rows)
    for _ in range(n // 100):
        df = reference_frame(rng, 100)
        df["x1"] += DRIFT  # the injected drift
        proba = predict(df)
        frames.append(df)
        probas.append(proba)
        ids += [str(i) for i in otel_ml.last_prediction_ids()]
    data = pd.concat(frames, ignore_index=True)
    proba = np.concatenate(probas)
    z = 1.5 * data["x1"].to_numpy() - 0.5 * (data["x2"].to_numpy() - 5.0) - 1.0
    y = (rng.random(len(data)) < 1.0 / (1.0 + np.exp(-z))).astype(int)
    labelled = rng.random(len(data)) < 0.7
    id_arr = np.array(ids)
    otel_ml.record_outcome(
        model=MODEL, ids=list(id_arr[labelled]), actuals=[str(v) for v in y[labelled]]
    )
    otel_ml.flush()
    cfg.shutdown()
    np.savez(
        out,
        x1=data["x1"].to_numpy(),
        x2=data["x2"].to_numpy(),
        region=data["region"].to_numpy().astype(str),
        proba=proba,
        y=y,
        labelled=labelled,
        ids=id_arr,
    )


if __name__ == "__main__":
    main()
