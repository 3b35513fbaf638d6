"""A monitored model process for tests/stack/test_stack_integration.py (not a test).

    python tests/stack/stack_model_app.py --endpoint http://127.0.0.1:4318 --duration 300

Configures otel_ml (OTLP/HTTP to the evaluator, traces included so that prediction
events carry trace ids; a Prometheus endpoint on a free port, printed as
``prometheus HOST:PORT``) and calls two monitored models until it is stopped:

- ``credit`` v1: a logistic model on a DataFrame with numeric and categorical features,
  fed drifted applications (``debt_ratio`` much higher than in the reference) with some
  missing incomes; every 10th call raises; 80 % of the outcomes are reported with
  ``record_outcome`` right after each call;
- ``slow`` v1: the same model taking 150 ms per call (p95 latency above 100 ms); all
  its outcomes are reported, drawn from its probabilities for the first
  ``SLOW_GOOD_CALLS`` calls and the opposite class after them: its accuracy falls from
  about 85 % to 15 %, which the evaluator's change detectors find within seconds
  (``ml_performance_changes_total``).

The data generator and the reference profile are importable for the test.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

import otel_ml

MODEL = "credit"
SLOW_MODEL = "slow"
VERSION = "1"
SLOW_GOOD_CALLS = 60  # 300 labelled predictions before the slow model's labels turn
CLASSES = ["no", "yes"]
EMPLOYMENT = ["salaried", "self_employed", "unemployed"]


def applications(n: int, rng: np.random.Generator, *, drift: bool) -> pd.DataFrame:
    """``n`` applications; with ``drift`` the debt ratio and the employment mix move."""
    income = rng.lognormal(10.5, 0.4, n)
    income[rng.random(n) < 0.1] = np.nan
    employment_p = [0.3, 0.5, 0.2] if drift else [0.7, 0.2, 0.1]
    return pd.DataFrame(
        {
            "income": income,
            "debt_ratio": rng.beta(6, 2, n) if drift else rng.beta(2, 6, n),
            "age": rng.normal(40, 10, n),
            "employment": rng.choice(EMPLOYMENT, n, p=employment_p),
        }
    )


def probabilities(frame: pd.DataFrame) -> np.ndarray:
    income = frame["income"].fillna(36000.0).to_numpy()
    logit = -1.0 + 4.0 * frame["debt_ratio"].to_numpy() - 0.5 * (np.log(income) - 10.5)
    p_yes = 1.0 / (1.0 + np.exp(-logit))
    return np.column_stack([1.0 - p_yes, p_yes])


def write_reference(path: Path) -> None:
    """The reference profile of ``credit`` v1: undrifted data, its outputs and labels.

    The outputs are named as the SDK names them for ``predict_proba`` with
    ``class_names``: one probability column per class.
    """
    rng = np.random.default_rng(1)
    train = applications(5000, rng, drift=False)
    proba = probabilities(train)
    labels = np.where(rng.random(len(train)) < proba[:, 1], "yes", "no")
    outputs = pd.DataFrame(proba, columns=CLASSES)
    otel_ml.Profile.from_data(
        train, model=MODEL, version=VERSION, predictions=outputs, labels=labels
    ).save(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True, help="OTLP/HTTP base URL")
    parser.add_argument("--reference", type=Path, required=True)
    parser.add_argument("--duration", type=float, default=300.0)
    args = parser.parse_args(argv)

    telemetry = otel_ml.configure(
        service_name="stack-test-model",
        endpoint=args.endpoint,
        protocol="http/protobuf",
        export_interval=1.0,
        prometheus_port=0,
        prometheus_host="127.0.0.1",
    )
    assert telemetry.prometheus_address is not None
    host, port = telemetry.prometheus_address
    print(f"prometheus {host}:{port}", flush=True)

    calls = {"n": 0, "slow": 0}

    @otel_ml.monitor(model=MODEL, version=VERSION, task="binary_classification",
                     reference=args.reference, class_names=CLASSES)
    def predict_proba(frame: pd.DataFrame) -> np.ndarray:
        calls["n"] += 1
        if calls["n"] % 10 == 0:
            raise ValueError("the scoring backend rejected the batch")
        return probabilities(frame)

    @otel_ml.monitor(model=SLOW_MODEL, version=VERSION, task="binary_classification",
                     class_names=CLASSES)
    def slow_predict_proba(frame: pd.DataFrame) -> np.ndarray:
        calls["slow"] += 1
        time.sleep(0.15)
        return probabilities(frame)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    rng = np.random.default_rng(2)
    deadline = time.monotonic() + args.duration
    while not stop.is_set() and time.monotonic() < deadline:
        frame = applications(40, rng, drift=True)
        try:
            p_yes = predict_proba(frame)[:, 1]
        except ValueError:
            pass
        else:
            ids = otel_ml.last_prediction_ids()
            truth = np.where(rng.random(len(p_yes)) < p_yes, "yes", "no")
            keep = rng.random(len(ids)) < 0.8
            kept = [i for i, k in zip(ids, keep, strict=True) if k]
            otel_ml.record_outcome(model=MODEL, ids=kept, actuals=list(truth[keep]))
        p_slow = slow_predict_proba(frame.head(5))[:, 1]
        slow_ids = otel_ml.last_prediction_ids()
        truth = np.where(rng.random(len(p_slow)) < p_slow, "yes", "no")
        if calls["slow"] > SLOW_GOOD_CALLS:  # a degradation: the answers turn wrong
            truth = np.where(truth == "yes", "no", "yes")
        otel_ml.record_outcome(model=SLOW_MODEL, ids=slow_ids, actuals=list(truth))
        stop.wait(0.05)
    telemetry.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
