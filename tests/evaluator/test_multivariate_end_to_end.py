"""Multivariate drift end to end, no stand-ins: a model service (a subprocess) monitors two
models with ``@otel_ml.monitor(reference=profile)``; the SDK sketches each batch's PCA
reconstruction errors and the real OTLP/HTTP exporter sends them to the evaluator on
loopback. One model sees data like the reference, the other the same marginals with the
correlation between two features flipped. The evaluator's verdicts are read from its
report API, its Prometheus endpoint, its alerts and its HTML page, and checked against
``otel_ml.compare`` on the raw rows the service sent.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from mv_e2e_app import CALLS, ROWS, frame
from prometheus_client.parser import text_string_to_metric_families

from otel_ml.evaluator import EvaluatorApp
from otel_ml.evaluator._config import parse_config
from otel_ml.sketch import Profile
from otel_ml.stats import compare

HERE = Path(__file__).parent


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def _text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as r:
        return str(r.read().decode())


def _json(url: str) -> Any:
    return json.loads(_text(url))


def _wait(what: str, check: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


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
            models = _json(ep["api"] + "/api/models")["models"]
            if len(models) < 2 or any(m["latest_window"] is None for m in models):
                return None
            return {m: _json(ep["api"] + f"/api/models/{m}/report") for m in ("mv-same", "mv-flip")}

        got = _wait("reports of both models", reports)
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

        prom = _text(ep["api"] + "/metrics")
        samples = [
            (s.name, s.labels, s.value)
            for fam in text_string_to_metric_families(prom)
            for s in fam.samples
            if s.name.startswith("ml_drift_multivariate_detected")
        ]
        by_model = {lab["ml_model_name"]: v for _, lab, v in samples}
        assert by_model == {"mv-same": 0.0, "mv-flip": 1.0}

        def alerts() -> list[dict[str, Any]]:
            a: list[dict[str, Any]] = _json(ep["api"] + "/api/models/mv-flip/report")["alerts"]
            return a

        fired = _wait("the multivariate_drift alert", alerts, 30)
        assert [a["rule"] for a in fired] == ["multivariate_drift"], fired
        assert _json(ep["api"] + "/api/models/mv-same/report")["alerts"] == []
        html = _text(ep["api"] + "/models/mv-flip")
        assert "Multivariate drift" in html and "pca_reconstruction_error" in html
    finally:
        app.stop()
