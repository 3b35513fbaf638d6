"""End to end for PyTorch and ONNX Runtime: unmodified model services under
``opentelemetry-instrument`` (the real OTLP/HTTP exporters, configured by
opentelemetry-distro) send to the evaluator on loopback; their traffic has a drifted
feature; labels arrive through ``record_outcome``. The evaluator's report must say the
drifted feature drifted (and only it) and give the accuracy computed directly from the
same raw data.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime  # noqa: F401  (a dev dependency: missing fails, never skips)
import pandas as pd
import pytest
import skl2onnx  # noqa: F401  (a dev dependency: missing fails, never skips)
import torch  # noqa: F401  (a dev dependency: missing fails, never skips)
from e2e_neural_app import reference_frame, true_proba
from e2e_support import Clock, get_json
from sklearn import metrics as skm

from otel_ml.evaluator import EvaluatorApp
from otel_ml.evaluator._config import parse_config
from otel_ml.sketch import Profile

HERE = Path(__file__).parent
ROWS = 1500
MODELS = {"pytorch": "torch_credit", "onnxruntime": "onnx_credit"}


def _start_app(framework: str, endpoint: str, tmp_path: Path, seed: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(
        OTEL_SERVICE_NAME=f"{framework}-api",
        OTEL_TRACES_EXPORTER="otlp",
        OTEL_METRICS_EXPORTER="otlp",
        OTEL_LOGS_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        OTEL_METRIC_EXPORT_INTERVAL="500",
        OTEL_BLRP_SCHEDULE_DELAY="100",
        OTEL_ML_PYTORCH_MODELS="Scorer=torch_credit:1",
        OTEL_ML_ONNXRUNTIME_VERSION="1",
        PYTHONPATH=str(HERE),
    )
    cwd = tmp_path / framework
    cwd.mkdir()
    return subprocess.Popen(
        [
            str(Path(sys.executable).parent / "opentelemetry-instrument"),
            sys.executable,
            str(HERE / "e2e_neural_app.py"),
            framework,
            str(cwd / "out.npz"),
            str(seed),
            str(ROWS),
        ],
        env=env,
        cwd=cwd,
        stdout=(cwd / "log").open("wb"),
        stderr=subprocess.STDOUT,
    )


@pytest.mark.slow
def test_pytorch_and_onnxruntime_services_to_evaluator(tmp_path: Path) -> None:
    ref = reference_frame(np.random.default_rng(100), 6000)
    frame = pd.DataFrame({"f0": ref[:, 0], "f1": ref[:, 1]})
    references = []
    for model in MODELS.values():
        profile = Profile.from_data(frame, model=model, version="1", predictions=true_proba(ref))
        profile.save(tmp_path / f"{model}.json")
        references.append({"model": model, "version": "1", "path": f"{model}.json"})
    cfg = parse_config(
        {
            "state_dir": "state",
            "receivers": {"http": {"port": 0}, "grpc": {"port": 0}},
            "api": {"port": 0},
            "windows": {"size": "1d", "grace": "1s", "min_rows": 500},
            "references": references,
        },
        base_dir=tmp_path,
    )
    clock = Clock()
    app = EvaluatorApp.from_config(cfg, clock=clock)
    app.start(tick_interval=0.2)
    try:
        ep = app.endpoints()
        procs = {
            fw: _start_app(fw, ep["otlp_http"], tmp_path, seed)
            for seed, fw in enumerate(MODELS, start=1)
        }
        for fw, proc in procs.items():
            assert proc.wait(180) == 0, (tmp_path / fw / "log").read_text()[-3000:]

        # Close today's window; wait for both models' reports.
        day_end = (clock() // 86400 + 1) * 86400
        clock.offset = day_end + 2 - time.time()
        reports: dict[str, dict[str, object]] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(reports) < len(MODELS):
            listed = get_json(ep["api"] + "/api/models")["models"]  # type: ignore[index]
            for m in listed:
                if m["latest_window"] is not None and m["name"] not in reports:
                    reports[m["name"]] = get_json(  # type: ignore[assignment]
                        ep["api"] + f"/api/models/{m['name']}/report"
                    )
            time.sleep(0.2)
        assert set(reports) == set(MODELS.values()), sorted(reports)

        for fw, model in MODELS.items():
            raw = np.load(tmp_path / fw / "out.npz")
            report = reports[model]
            feats = {f["name"]: f for f in report["features"]}  # type: ignore[attr-defined]
            assert set(feats) == {"f0", "f1"}, (model, sorted(feats))
            assert feats["f0"]["n"] == ROWS
            assert report["drifted_features"] == ["f0"], model
            perf = report["performance"]
            labelled, y, proba = raw["labelled"], raw["y"], raw["proba"]
            y_pred = (proba[:, 1] > proba[:, 0]).astype(int)
            acc = skm.accuracy_score(y[labelled], y_pred[labelled])
            assert perf["n_predicted"] == ROWS  # type: ignore[index]
            assert perf["n_labelled"] == labelled.sum()  # type: ignore[index]
            assert perf["metrics"]["accuracy"] == pytest.approx(acc)  # type: ignore[index]
            assert report["operations"]["calls"] == ROWS // 100  # type: ignore[index]
    finally:
        app.stop()
