"""``opentelemetry-instrument python app.py`` on gradient-boosting apps that never import
OpenTelemetry: the outputs are bitwise those of the plain run, and each call is one span.

Each app runs twice as a subprocess: plain, and under ``opentelemetry-instrument`` with
the real OTLP/HTTP exporters pointed at a receiver on 127.0.0.1. The app prints a
SHA-256 of every result's bytes (and its dtype and shape).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from otlp_loopback import OtlpReceiver, Received, attributes, run_app

from otel_ml import semconv

PRELUDE = """
import hashlib
import numpy as np
import pandas as pd

rng = np.random.default_rng(5)
X = pd.DataFrame(rng.normal(size=(400, 4)), columns=["age", "income", "debt", "tenure"])
y = (X["age"] + 0.5 * X["income"] > 0).astype(int).to_numpy()

def show(name, result):
    a = np.ascontiguousarray(result)
    print(name, a.dtype, a.shape, hashlib.sha256(a.tobytes()).hexdigest())
"""

APPS = {
    "xgboost": PRELUDE + """
import xgboost as xgb

clf = xgb.XGBClassifier(n_estimators=20, max_depth=3, n_jobs=1).fit(X, y)
booster = clf.get_booster()
for start in range(0, 200, 50):
    show("proba", clf.predict_proba(X.iloc[start:start + 50]))
show("labels", clf.predict(X.iloc[:10]))
source = X.iloc[:30]
show("booster", booster.predict(xgb.DMatrix(source)))
show("margin", booster.predict(xgb.DMatrix(source), output_margin=True))
show("inplace", booster.inplace_predict(X.iloc[:30]))
""",
    "lightgbm": PRELUDE + """
import lightgbm as lgb

clf = lgb.LGBMClassifier(n_estimators=20, num_leaves=7, n_jobs=1, verbose=-1).fit(X, y)
booster = clf.booster_
for start in range(0, 200, 50):
    show("proba", clf.predict_proba(X.iloc[start:start + 50]))
show("labels", clf.predict(X.iloc[:10]))
show("booster", booster.predict(X.iloc[:30]))
show("raw", booster.predict(X.iloc[:30].to_numpy(), raw_score=True))
show("contrib", booster.predict(X.iloc[:30], pred_contrib=True))
""",
    "catboost": PRELUDE + """
import catboost as cb

clf = cb.CatBoostClassifier(iterations=20, depth=3, thread_count=1, verbose=0,
                            allow_writing_files=False).fit(X, y)
for start in range(0, 200, 50):
    show("proba", clf.predict_proba(X.iloc[start:start + 50]))
show("labels", clf.predict(X.iloc[:10]))
base = cb.CatBoost({"iterations": 10, "loss_function": "Logloss", "thread_count": 1,
                    "verbose": 0, "allow_writing_files": False}).fit(X, y)
source = X.iloc[:30]
show("raw", base.predict(cb.Pool(source)))
show("one", clf.predict_proba(X.iloc[0].to_numpy()))
""",
}

#: (estimator class named "scoring", its span names in any order, calls of the bare booster)
EXPECTED = {
    "xgboost": ("XGBClassifier", ["predict_proba"] * 4 + ["predict"], 3),
    "lightgbm": ("LGBMClassifier", ["predict_proba"] * 4 + ["predict"], 2),
    "catboost": ("CatBoostClassifier", ["predict_proba"] * 5 + ["predict"], 1),
}


def _run(tmp_path: Path, framework: str, endpoint: str | None,
         **extra: str) -> subprocess.CompletedProcess[str]:
    model, _, _ = EXPECTED[framework]
    env = {"OTEL_SERVICE_NAME": f"{framework}-app",
           f"OTEL_ML_{framework.upper()}_MODELS": f"{model}=scoring:1"}
    return run_app(tmp_path, APPS[framework], endpoint, **{**env, **extra})


def _spans(received: Received, framework: str) -> list[object]:
    return [
        span for _, span in received.spans()
        if attributes(span.attributes).get(semconv.ML_MODEL_FRAMEWORK) == framework
    ]


@pytest.mark.parametrize("framework", sorted(APPS))
def test_unmodified_app_outputs_are_bitwise_the_plain_ones(tmp_path, framework):
    plain = _run(tmp_path, framework, None)
    assert plain.returncode == 0, plain.stderr
    with OtlpReceiver() as receiver:
        done = _run(tmp_path, framework, receiver.endpoint)
        assert done.returncode == 0, done.stderr
        _, sk_spans, n_booster = EXPECTED[framework]
        receiver.received.wait_for(
            lambda r: len(_spans(r, framework)) >= len(sk_spans) + n_booster, timeout=10
        )
    assert done.stdout == plain.stdout
    spans = _spans(receiver.received, framework)
    named = sorted(s.name.split(" ")[0] for s in spans
                   if attributes(s.attributes)[semconv.ML_MODEL_NAME] == "scoring")
    assert named == sorted(sk_spans)
    # The other model (a bare Booster; CatBoost's base class) is named by its content.
    others = [s for s in spans if attributes(s.attributes)[semconv.ML_MODEL_NAME] != "scoring"]
    assert len(others) == n_booster
    assert len({attributes(s.attributes)[semconv.ML_MODEL_NAME] for s in others}) == 1


@pytest.mark.parametrize("framework", sorted(APPS))
def test_disabled_by_otel_python_disabled_instrumentations(tmp_path, framework):
    with OtlpReceiver() as receiver:
        done = _run(tmp_path, framework, receiver.endpoint,
                    OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=framework)
        assert done.returncode == 0, done.stderr
    assert _spans(receiver.received, framework) == []


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

#: (example script, the model names its docstring sets, spans of the first name)
EXAMPLE_RUNS = {
    "xgboost": ("xgboost_scoring.py", "XGBClassifier=credit_xgb:1,Booster=credit_xgb_booster:1",
                ["predict_proba credit_xgb"] * 3 + ["predict_margin credit_xgb_booster"]),
    "lightgbm": ("lightgbm_scoring.py", "LGBMRegressor=prices_lgbm:1",
                 ["predict prices_lgbm"] * 3),
    "catboost": ("catboost_scoring.py", "CatBoostClassifier=churn_catboost:1",
                 ["predict_proba churn_catboost"] * 3),
}


@pytest.mark.parametrize("framework", sorted(EXAMPLE_RUNS))
def test_example_under_opentelemetry_instrument(tmp_path, framework):
    script, models, expected = EXAMPLE_RUNS[framework]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    with OtlpReceiver() as receiver:
        env.update(
            OTEL_SERVICE_NAME=f"{framework}-example",
            OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            OTEL_BSP_SCHEDULE_DELAY="100",
            **{f"OTEL_ML_{framework.upper()}_MODELS": models},
        )
        done = subprocess.run(
            [str(Path(sys.executable).parent / "opentelemetry-instrument"), sys.executable,
             str(EXAMPLES / script), "--batches", "3"],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180, check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        receiver.received.wait_for(lambda r: len(_spans(r, framework)) >= len(expected),
                                   timeout=10)
    assert sorted(s.name for s in _spans(receiver.received, framework)) == sorted(expected)
    assert done.stdout.startswith(("approved", "priced", "scored"))
