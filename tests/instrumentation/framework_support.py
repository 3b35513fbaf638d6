"""Shared pieces of the framework instrumentor tests (XGBoost, LightGBM, CatBoost).

Their ``instrument`` fixtures are ``sklearn_support.instrument_fixture_for(cls)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn_support import FEATURES, Telemetry

from otel_ml import semconv


def data_fixture() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """300 rows of four named features, a binary label and a 3-class label."""
    rng = np.random.default_rng(11)
    X = pd.DataFrame(rng.normal(size=(300, 4)), columns=FEATURES)
    y = (X["age"] + 0.5 * X["income"] > 0).astype(int).to_numpy()
    y3 = np.digitize(X["age"].to_numpy(), [-0.5, 0.5])
    return X, y, y3


def span_attrs(telemetry: Telemetry) -> list[dict[str, object]]:
    return [dict(s.attributes or {}) for s in telemetry.finished()]


def names(telemetry: Telemetry) -> list[str]:
    return [s.name for s in telemetry.finished()]


def model_names(telemetry: Telemetry) -> list[object]:
    return [a[semconv.ML_MODEL_NAME] for a in span_attrs(telemetry)]


def window(telemetry: Telemetry, model: str) -> Any:
    """Everything recorded for ``model`` so far (windows of other models are kept for later)."""
    from otel_ml.instrumentation._monitor import flush
    from otel_ml.instrumentation._window import ModelWindow

    flush()
    seen: dict[str, ModelWindow] = telemetry.__dict__.setdefault("seen_windows", {})
    for key, w in telemetry.consumer.collect().windows.items():
        seen.setdefault(key.model, ModelWindow()).merge(w)
    return seen.get(model, ModelWindow())
