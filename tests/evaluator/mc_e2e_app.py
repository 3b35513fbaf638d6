"""A model service for the multiclass estimated-performance end-to-end test (run as a
subprocess, not a test).

``python mc_e2e_app.py ENDPOINT OUT.npz``: a three-class scikit-learn
``LogisticRegression`` (:func:`make_model`, the same fit as the test's) instrumented by
``SklearnInstrumentor``, fed rows whose features moved (covariate shift, no concept
shift) through ``predict_proba``; real OTLP/HTTP export. Saves the probabilities it
returned and the rows' true labels (drawn, never sent) to ``OUT.npz``.
"""

from __future__ import annotations

import sys

import numpy as np
from sklearn.linear_model import LogisticRegression

import otel_ml

ROWS, CALLS = 200, 10
_W = np.array([[2.0, -1.0, 0.0], [-1.0, 2.0, -1.0], [0.0, -1.0, 2.0]])


def rows(rng: np.random.Generator, n: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels drawn from a softmax of them (the labels' law never moves)."""
    X = rng.normal(shift, 1.0, (n, 3))
    logits = X @ _W
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    y = (rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    return X, y


def make_model() -> LogisticRegression:
    X, y = rows(np.random.default_rng(1), 5000, 0.0)
    return LogisticRegression().fit(X, y)


def main() -> None:
    from otel_ml.instrumentation.sklearn import SklearnInstrumentor, name_model

    endpoint, out = sys.argv[1:3]
    model = make_model()
    cfg = otel_ml.configure(
        service_name="mc-api", endpoint=endpoint, protocol="http/protobuf", export_interval=0.5
    )
    SklearnInstrumentor().instrument()
    name_model(model, "mc", version="1")
    rng = np.random.default_rng(3)
    probs, labels = [], []
    for _ in range(CALLS):
        X, y = rows(rng, ROWS, 0.7)
        probs.append(model.predict_proba(X))
        labels.append(y)
    otel_ml.flush()
    cfg.shutdown()
    np.savez(out, proba=np.concatenate(probs), labels=np.concatenate(labels))


if __name__ == "__main__":
    main()
