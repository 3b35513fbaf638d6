"""A model service for the change-detection end-to-end test (run as a subprocess).

``python e2e_change_app.py ENDPOINT OUT.npz``: two ``@otel_ml.monitor``-decorated
classifiers, ``steady`` and ``falling``, each predict ``N`` rows in calls of 100
(exported with the real OTel OTLP/HTTP exporters); then their labels are sent with
``otel_ml.record_outcome``: ``steady``'s agree with its predictions 95 % of the time
throughout, ``falling``'s only 60 % of the time from row ``N // 2`` on. Saves each
call's start time and the rows' ids to ``OUT.npz``.
"""

from __future__ import annotations

import sys
import time

import numpy as np

import otel_ml

N, CALL = 2000, 100


def main() -> None:
    endpoint, out = sys.argv[1:3]
    rng = np.random.default_rng(4)
    cfg = otel_ml.configure(
        service_name="change-e2e",
        endpoint=endpoint,
        protocol="http/protobuf",
        export_interval=0.5,
    )
    saved: dict[str, np.ndarray] = {}
    for model, late_accuracy in (("steady", 0.95), ("falling", 0.6)):

        @otel_ml.monitor(model=model, version="1", class_names=["0", "1"])
        def predict(x: np.ndarray) -> np.ndarray:
            p = 1.0 / (1.0 + np.exp(-x[:, 0]))
            return np.column_stack([1.0 - p, p])

        ids: list[str] = []
        starts = []
        predicted = []
        for _ in range(N // CALL):
            starts.append(time.time())
            proba = predict(rng.normal(0.0, 2.0, (CALL, 1)))
            predicted += list((proba[:, 1] > 0.5).astype(int))
            ids += [str(i) for i in otel_ml.last_prediction_ids()]
            time.sleep(0.01)
        accuracy = np.where(np.arange(N) < N // 2, 0.95, late_accuracy)
        right = rng.random(N) < accuracy
        truth = np.where(right, predicted, 1 - np.asarray(predicted))
        otel_ml.record_outcome(model=model, ids=ids, actuals=[str(v) for v in truth])
        saved[f"{model}_starts"] = np.asarray(starts)
        saved[f"{model}_ids"] = np.asarray(ids)
    otel_ml.flush()
    cfg.shutdown()
    np.savez(out, **saved)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
