"""End to end per gradient-boosting framework, no stand-ins: an unmodified scoring script
run under ``opentelemetry-instrument`` exports OTLP/HTTP over loopback to a real evaluator
holding a reference profile; its traffic has a shifted feature, and the script sends the
labels of most rows with ``otel_ml.record_outcome``. The evaluator's report must give the
drift verdict for the shifted feature and the accuracy joined from those labels, equal to
the accuracy computed directly from the raw data the script saved.

The evaluator runs in this process with a clock the test controls (a window of one day,
closed by moving the clock).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from otel_ml.evaluator import EvaluatorApp
from otel_ml.evaluator._config import parse_config
from otel_ml.sketch import Profile

ROWS = 1000
SHIFT = 0.8

#: The script, up to the line that builds and trains the model (``MODEL`` below).
SCRIPT = """
import sys
import numpy as np
import pandas as pd
import otel_ml

def frame(rng, n):
    return pd.DataFrame({{"x1": rng.normal(0.0, 1.0, n), "x2": rng.normal(5.0, 2.0, n)}})

def labels(rng, df):
    z = 1.5 * df["x1"].to_numpy() - 0.5 * (df["x2"].to_numpy() - 5.0)
    return (rng.random(len(df)) < 1.0 / (1.0 + np.exp(-z))).astype(int)

rng = np.random.default_rng(1)
train = frame(rng, 2000)
{model}
frames, probas, ids = [], [], []
for _ in range({rows} // 100):
    df = frame(rng, 100)
    df["x1"] += {shift}  # the shift in production
    probas.append(model.predict_proba(df))
    frames.append(df)
    ids += [str(i) for i in otel_ml.last_prediction_ids()]
data = pd.concat(frames, ignore_index=True)
y = labels(rng, data)
labelled = rng.random(len(data)) < 0.7
otel_ml.record_outcome(model="credit", ids=list(np.array(ids)[labelled]),
                       actuals=[str(v) for v in y[labelled]])
np.savez(sys.argv[1], x1=data["x1"].to_numpy(), proba=np.concatenate(probas), y=y,
         labelled=labelled)
"""

MODELS = {
    "xgboost": ("XGBClassifier", """
import xgboost as xgb
model = xgb.XGBClassifier(n_estimators=20, max_depth=3, n_jobs=1).fit(train, labels(rng, train))
"""),
    "lightgbm": ("LGBMClassifier", """
import lightgbm as lgb
model = lgb.LGBMClassifier(n_estimators=20, num_leaves=7, n_jobs=1, verbose=-1)
model.fit(train, labels(rng, train))
"""),
    "catboost": ("CatBoostClassifier", """
import catboost as cb
model = cb.CatBoostClassifier(iterations=30, depth=3, thread_count=1, verbose=0,
                              allow_writing_files=False).fit(train, labels(rng, train))
"""),
}


def _reference(path: Path) -> None:
    rng = np.random.default_rng(100)
    ref = pd.DataFrame({"x1": rng.normal(0.0, 1.0, 4000), "x2": rng.normal(5.0, 2.0, 4000)})
    Profile.from_data(ref, model="credit", version="1").save(path)


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as r:
        return bytes(r.read())


@pytest.mark.slow
@pytest.mark.parametrize("framework", sorted(MODELS))
def test_unmodified_script_to_evaluator_drift_and_joined_accuracy(tmp_path, framework):
    estimator, build = MODELS[framework]
    _reference(tmp_path / "credit.json")
    cfg = parse_config(
        {
            "state_dir": "state",
            "receivers": {"http": {"port": 0}},
            "api": {"port": 0},
            "windows": {"size": "1d", "grace": "1s", "min_rows": 500},
            "references": [{"model": "credit", "version": "1", "path": "credit.json"}],
        },
        base_dir=tmp_path,
    )
    offset = [0.0]
    app = EvaluatorApp.from_config(cfg, clock=lambda: time.time() + offset[0])
    app.start(tick_interval=0.2)
    try:
        ep = app.endpoints()
        script = tmp_path / "score.py"
        script.write_text(SCRIPT.format(model=build, rows=ROWS, shift=SHIFT))
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env.update(
            OTEL_SERVICE_NAME="scoring",
            OTEL_TRACES_EXPORTER="otlp",
            OTEL_METRICS_EXPORTER="otlp",
            OTEL_LOGS_EXPORTER="otlp",
            OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
            OTEL_EXPORTER_OTLP_ENDPOINT=ep["otlp_http"],
            OTEL_METRIC_EXPORT_INTERVAL="500",
            **{f"OTEL_ML_{framework.upper()}_MODELS": f"{estimator}=credit:1"},
        )
        done = subprocess.run(
            [str(Path(sys.executable).parent / "opentelemetry-instrument"), sys.executable,
             str(script), str(tmp_path / "raw.npz")],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180, check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        raw = np.load(tmp_path / "raw.npz")

        day_end = (time.time() // 86400 + 1) * 86400
        offset[0] = day_end + 2 - time.time()  # close today's window
        report = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            models = json.loads(_get(ep["api"] + "/api/models"))["models"]
            if models and models[0]["latest_window"] is not None:
                report = json.loads(_get(ep["api"] + "/api/models/credit/report"))
                break
            time.sleep(0.2)
        assert report is not None, "no report within 60 s"
    finally:
        app.stop()

    feats = {f["name"]: f for f in report["features"]}
    assert feats["x1"]["n"] == ROWS
    assert feats["x1"]["drift"]["drifted"] is True
    assert feats["x2"]["drift"]["drifted"] is False
    assert report["drifted_features"] == ["x1"]
    perf = report["performance"]
    proba, y, labelled = raw["proba"], raw["y"], raw["labelled"]
    y_pred = proba.argmax(axis=1)
    assert perf["n_predicted"] == ROWS
    assert perf["n_labelled"] == labelled.sum()
    assert perf["metrics"]["accuracy"] == pytest.approx(
        skm.accuracy_score(y[labelled], y_pred[labelled])
    )
    assert report["operations"]["calls"] == ROWS / 100
