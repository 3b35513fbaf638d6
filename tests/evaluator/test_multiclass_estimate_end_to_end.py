"""Multiclass estimated performance end to end, no stand-ins: a model service (a
subprocess) serves a three-class scikit-learn model through ``SklearnInstrumentor``; the
SDK exports each class column's sketch and the ``argmax:<class>`` sketches over real
OTLP/HTTP to the evaluator on loopback, whose reference was built with labels. The
estimate in the evaluator's report and on its ``/metrics`` is checked against the
realised metrics of the raw rows the service saw (never sent).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from e2e_support import Clock, get_json, get_text, wait
from mc_e2e_app import CALLS, ROWS, make_model, rows
from prometheus_client.parser import text_string_to_metric_families

from otel_ml.evaluator import EvaluatorApp
from otel_ml.evaluator._config import parse_config
from otel_ml.sketch import Profile

HERE = Path(__file__).parent


def test_a_three_class_model_gets_an_estimate_through_sdk_otlp_and_evaluator(
    tmp_path: Path,
) -> None:
    model = make_model()
    X, y = rows(np.random.default_rng(2), 20_000, 0.0)
    proba = model.predict_proba(X)
    reference = Profile.from_data(
        {f"x{i}": X[:, i] for i in range(3)},
        predictions={str(c): proba[:, i] for i, c in enumerate(model.classes_)},
        labels=y,
    )
    assert "argmax:2" in reference.calibration
    reference.save(tmp_path / "ref.json")
    cfg = parse_config(
        {
            "state_dir": "state",
            "receivers": {"http": {"port": 0}, "grpc": {"enabled": False}},
            "api": {"port": 0},
            "windows": {"size": "1d", "grace": "1s", "min_rows": 500},
            "references": [{"model": "mc", "version": "1", "path": "ref.json"}],
        },
        base_dir=tmp_path,
    )
    clock = Clock()
    app = EvaluatorApp.from_config(cfg, clock=clock)
    app.start(tick_interval=0.2)
    try:
        ep = app.endpoints()
        log = tmp_path / "app.log"
        proc = subprocess.run(
            [sys.executable, str(HERE / "mc_e2e_app.py"), ep["otlp_http"],
             str(tmp_path / "sent.npz")],
            stdout=log.open("wb"), stderr=subprocess.STDOUT, timeout=120, check=False,
        )
        assert proc.returncode == 0, log.read_text()[-3000:]
        sent = np.load(tmp_path / "sent.npz")
        clock.offset = (clock() // 86400 + 1) * 86400 + 2 - time.time()  # close the day

        def report() -> dict[str, Any] | None:
            models = get_json(ep["api"] + "/api/models")["models"]
            if not models or models[0]["latest_window"] is None:
                return None
            r: dict[str, Any] = get_json(ep["api"] + "/api/models/mc/report")
            return r

        got = wait("the window's report", report)
        est = got["estimated_performance"]
        assert est is not None, got
        assert est["positive_class"] == "macro" and est["output"] == "0,1,2"
        assert est["n_rows"] == ROWS * CALLS
        realised = float(np.mean(sent["proba"].argmax(axis=1) == sent["labels"]))
        acc = est["accuracy"]
        assert acc["lower"] <= realised <= acc["upper"], (acc, realised)
        # What the model's own scores promise on these rows (calibrated by construction).
        assert abs(acc["value"] - float(np.mean(sent["proba"].max(axis=1)))) < 0.02
        # The argmax:<class> streams are the estimate's input, not prediction outputs.
        assert {p["name"] for p in got["predictions"]} <= {"0", "1", "2", "class"}

        prom = get_text(ep["api"] + "/metrics")
        values = {
            s.labels.get("ml_performance_metric"): s.value
            for fam in text_string_to_metric_families(prom)
            for s in fam.samples
            if s.name.startswith("ml_estimated_performance_value")
        }
        assert set(values) >= {"accuracy", "precision", "recall", "f1", "roc_auc"}, values
        assert abs(values["accuracy"] - acc["value"]) < 1e-9
        html = get_text(ep["api"] + "/models/mc")
        assert "Estimated from the class probabilities of 2,000 rows" in html
        assert "macro averages" in html and "threshold nan" not in html
    finally:
        app.stop()
