"""Score with XGBoost, monitored without a line of otel_ml code: ``opentelemetry-instrument``.

The script knows nothing of OpenTelemetry: it trains a small ``XGBClassifier`` on
synthetic applications and scores them in batches, through both the scikit-learn API
and the bare ``Booster`` on a ``DMatrix``. Run it under ``opentelemetry-instrument``
(``pip install 'otel-ml[xgboost]' opentelemetry-distro``) with the evaluator of
``examples/README.md`` listening::

    export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318
    export OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf
    export OTEL_SERVICE_NAME=xgboost-scoring
    export OTEL_ML_XGBOOST_MODELS="XGBClassifier=credit_xgb:1,Booster=credit_xgb_booster:1"
    opentelemetry-instrument python examples/xgboost_scoring.py

Each ``predict_proba`` is one span ``predict_proba credit_xgb`` (the ``Booster.predict``
XGBoost runs inside is not a second call), with per-feature histograms named after the
DataFrame's columns and one ``ml.prediction`` event. The ``Booster`` on a ``DMatrix``
is read through the DataFrame the DMatrix was built from; its margins
(``output_margin=True``) are recorded as ``predict_margin``, apart from probabilities.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import xgboost as xgb


def applications(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame({
        "income": rng.lognormal(10.5, 0.4, n),
        "debt_ratio": rng.beta(2, 5, n) + shift,
        "age": rng.integers(21, 70, n).astype(float),
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--shift", type=float, default=0.0, help="added to debt_ratio")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    train = applications(rng, 2_000)
    y = (train["debt_ratio"] + rng.normal(0, 0.1, len(train)) > 0.35).astype(int)
    model = xgb.XGBClassifier(n_estimators=50, max_depth=4).fit(train, y)
    booster = model.get_booster()
    approved = 0
    for _ in range(args.batches):
        batch = applications(rng, 100, args.shift)
        approved += int((model.predict_proba(batch)[:, 1] < 0.5).sum())
    batch = applications(rng, 100, args.shift)
    margins = booster.predict(xgb.DMatrix(batch), output_margin=True)
    print(f"approved {approved} of {args.batches * 100}; mean margin {margins.mean():.3f}")


if __name__ == "__main__":
    main()
