"""Price with LightGBM, monitored without a line of otel_ml code: ``opentelemetry-instrument``.

The script knows nothing of OpenTelemetry: it trains a small ``LGBMRegressor`` on
synthetic listings and prices them in batches. Run it under ``opentelemetry-instrument``
(``pip install 'otel-ml[lightgbm]' opentelemetry-distro``) with the evaluator of
``examples/README.md`` listening::

    export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318
    export OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf
    export OTEL_SERVICE_NAME=lightgbm-pricing
    export OTEL_ML_LIGHTGBM_MODELS="LGBMRegressor=prices_lgbm:1"
    opentelemetry-instrument python examples/lightgbm_scoring.py

Each ``predict`` is one span ``predict prices_lgbm`` (the ``Booster.predict`` LightGBM
runs inside is not a second call), with per-feature histograms named after the
DataFrame's columns, the distribution of predicted prices (the ``score`` stream) and one
``ml.prediction`` event per batch. Training (``fit``) is not monitored.
"""

from __future__ import annotations

import argparse

import lightgbm as lgb
import numpy as np
import pandas as pd


def listings(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame({
        "surface": rng.gamma(4.0, 20.0, n) * (1.0 + shift),
        "rooms": rng.integers(1, 7, n).astype(float),
        "distance_km": rng.exponential(5.0, n),
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--shift", type=float, default=0.0, help="relative change of surface")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    train = listings(rng, 2_000)
    price = 3_000 * train["surface"] / (1.0 + 0.05 * train["distance_km"])
    model = lgb.LGBMRegressor(n_estimators=50, num_leaves=15, verbose=-1).fit(train, price)
    total = 0.0
    for _ in range(args.batches):
        total += float(model.predict(listings(rng, 100, args.shift)).sum())
    print(f"priced {args.batches * 100} listings; mean {total / (args.batches * 100):,.0f}")


if __name__ == "__main__":
    main()
