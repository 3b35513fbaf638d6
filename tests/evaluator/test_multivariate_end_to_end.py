"""Multivariate drift end to end, no stand-ins: a model service (a subprocess) monitors two
models with ``@otel_ml.monitor(reference=profile)``; the SDK sketches each batch's PCA
reconstruction errors and the real OTLP/HTTP exporter sends them to the evaluator on
loopback. One model sees data like the reference, the other the same marginals with the
correlation between two features flipped. The evaluator's verdicts are read from its
report API, its Prometheus endpoint, its alerts and its HTML page, and checked against
``otel_ml.compare`` on the raw rows the service sent.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from e2e_support import Clock, get_json, get_text, wait
from mv_e2e_app import CALLS, ROWS, frame
from prometheus_client.parser import text_string_to_metric_families

from otel_ml.evaluator import EvaluatorApp
from otel_ml.evaluator._config import parse_config
from otel_ml.sketch import Profile
from otel_ml.stats import compare

HERE = Path(__file__).parent


def test_a_flipped_correlation_is_caught_through_sdk_otlp_and_evaluator(tmp_path: Path) -> None:
    reference = Profile.from_data(frame(np.random.default_rng(100), 20_000, 0.8))
    assert reference.multivariate is not None
    reference.save(tmp_path / "ref.json")
    refs = [{"model": m, "version": "1", "path": "ref.json"} for m in ("mv-same", "mv-flip")]
    cfg = parse_config(
        {
            "state_dir": "state",
            "receivers": {"http": {"port": 0}, "grpc": {"enabled": False}},
            "api": {"port": 0},
            "windows": {"size": "1d", "grace": "1s", "min_rows": 500},
            "references": refs,
            "alerts": {"defaults": {"for_windows": 1}},
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
            [sys.executable, str(HERE / "mv_e2e_app.py"), ep["otlp_http"],
             str(tmp_path / "ref.json"), str(tmp_path / "sent.npz")],
            stdout=log.open("wb"), stderr=subprocess.STDOUT, timeout=120, check=False,
        )
        assert proc.returncode == 0, log.read_text()[-3000:]
        sent = np.load(tmp_path / "sent.npz")
        clock.offset = (clock() // 86400 + 1) * 86400 + 2 - time.time()  # close the day

        def reports() -> dict[str, Any] | None:
            models = get_json(ep["api"] + "/api/models")["models"]
            if len(models) < 2 or any(m["latest_window"] is None for m in models):
                return None
            return {m: get_json(ep["api"] + f"/api/models/{m}/report")
                    for m in ("mv-same", "mv-flip")}

        got = wait("reports of both models", reports)
        n = ROWS * CALLS
        for model, drifted in (("mv-same", False), ("mv-flip", True)):
            report = got[model]
            raw = pd.DataFrame({c: sent[f"{model}:{c}"] for c in "abc"})
            expected = compare(reference, raw).multivariate
            assert expected is not None and expected.drifted is drifted
            mv = report["multivariate"]
            assert mv is not None, report
            assert mv["drifted"] is drifted, mv["reason"]
            assert mv["n_current"] == n and mv["method"] == "pca_reconstruction_error"
            assert mv["statistic"] == pytest.approx(expected.statistic, rel=0.02, abs=0.005)
            assert mv["mean_error"] == pytest.approx(expected.mean_error, rel=1e-9)
            # the marginals did not move; the error sketch is no feature of its own
            assert report["drifted_features"] == []
            assert {f["name"] for f in report["features"]} == {"a", "b", "c", "region"}

        prom = get_text(ep["api"] + "/metrics")
        samples = [
            (s.name, s.labels, s.value)
            for fam in text_string_to_metric_families(prom)
            for s in fam.samples
            if s.name.startswith("ml_drift_multivariate_detected")
        ]
        by_model = {lab["ml_model_name"]: v for _, lab, v in samples}
        assert by_model == {"mv-same": 0.0, "mv-flip": 1.0}

        def alerts() -> list[dict[str, Any]]:
            a: list[dict[str, Any]] = get_json(ep["api"] + "/api/models/mv-flip/report")["alerts"]
            return a

        fired = wait("the multivariate_drift alert", alerts, 30)
        assert [a["rule"] for a in fired] == ["multivariate_drift"], fired
        assert get_json(ep["api"] + "/api/models/mv-same/report")["alerts"] == []
        html = get_text(ep["api"] + "/models/mv-flip")
        assert "Multivariate drift" in html and "pca_reconstruction_error" in html
    finally:
        app.stop()
