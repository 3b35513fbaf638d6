"""A model service for the multivariate end-to-end test (run as a subprocess, not a test).

``python mv_e2e_app.py ENDPOINT PROFILE OUT.npz``: two models monitored with the same
reference profile (``reference=``, so the SDK exports each batch's PCA reconstruction
errors), one fed data like the reference (``mv-same``) and one whose correlation between
``a`` and ``b`` flipped sign, marginals unchanged (``mv-flip``); real OTLP/HTTP export.
Saves the raw rows it sent to ``OUT.npz``.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

import otel_ml

ROWS, CALLS = 100, 20


def frame(rng: np.random.Generator, n: int, rho: float) -> pd.DataFrame:
    a = rng.normal(10.0, 2.0, n)
    z = (a - 10.0) / 2.0
    return pd.DataFrame(
        {
            "a": a,
            "b": 3.0 * (rho * z + np.sqrt(1 - rho**2) * rng.normal(size=n)),
            "c": rng.gamma(2.0, 1.0, n),
            "region": rng.choice(["north", "south"], n),
        }
    )


def main() -> None:
    endpoint, profile_path, out = sys.argv[1:4]
    rng = np.random.default_rng(7)
    reference = otel_ml.Profile.load(profile_path)
    cfg = otel_ml.configure(
        service_name="mv-api", endpoint=endpoint, protocol="http/protobuf", export_interval=0.5
    )
    sent: dict[str, list[pd.DataFrame]] = {"mv-same": [], "mv-flip": []}
    for model, rho in (("mv-same", 0.8), ("mv-flip", -0.8)):

        @otel_ml.monitor(model=model, version="1", reference=reference)
        def predict(df: pd.DataFrame) -> np.ndarray:
            return df["a"].to_numpy() * 0.1

        for _ in range(CALLS):
            df = frame(rng, ROWS, rho)
            predict(df)
            sent[model].append(df)
    otel_ml.flush()
    cfg.shutdown()
    arrays = {}
    for model, frames in sent.items():
        data = pd.concat(frames, ignore_index=True)
        for col in "abc":
            arrays[f"{model}:{col}"] = data[col].to_numpy()
    np.savez(out, **arrays)


if __name__ == "__main__":
    main()
