"""Score churn with CatBoost, monitored with no otel_ml code: ``opentelemetry-instrument``.

The script knows nothing of OpenTelemetry: it trains a small ``CatBoostClassifier``
on synthetic customers (one categorical column, ``plan``, used as CatBoost's native
categorical feature) and scores them in batches. Run it under
``opentelemetry-instrument`` (``pip install 'otel-ml[catboost]' opentelemetry-distro``)
with the evaluator of ``examples/README.md`` listening::

    export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318
    export OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf
    export OTEL_SERVICE_NAME=catboost-churn
    export OTEL_ML_CATBOOST_MODELS="CatBoostClassifier=churn_catboost:1"
    opentelemetry-instrument python examples/catboost_scoring.py

Each ``predict_proba`` is one span ``predict_proba churn_catboost``, with per-feature
histograms named after the DataFrame's columns (``plan`` as categories), the class
probabilities and one ``ml.prediction`` event per batch. Training is not monitored.
"""

from __future__ import annotations

import argparse

import catboost as cb
import numpy as np
import pandas as pd


def customers(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame({
        "tenure_months": rng.gamma(2.0, 12.0, n) * (1.0 - shift),
        "monthly_spend": rng.normal(40.0, 12.0, n),
        "plan": rng.choice(["basic", "plus", "pro"], n, p=[0.5, 0.3, 0.2]),
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--shift", type=float, default=0.0, help="relative drop of tenure")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    train = customers(rng, 2_000)
    churned = (train["tenure_months"] + rng.normal(0, 6, len(train)) < 12).astype(int)
    model = cb.CatBoostClassifier(iterations=50, depth=4, verbose=0, allow_writing_files=False,
                                  cat_features=["plan"]).fit(train, churned)
    at_risk = 0
    for _ in range(args.batches):
        at_risk += int((model.predict_proba(customers(rng, 100, args.shift))[:, 1] > 0.5).sum())
    print(f"scored {args.batches * 100} customers; {at_risk} at risk of churning")


if __name__ == "__main__":
    main()
