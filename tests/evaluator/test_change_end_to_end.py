"""Change detection end to end, no stand-ins: a model service with ``@otel_ml.monitor`` and
the real OTLP/HTTP exporters sends predictions of two classifiers to the evaluator on
loopback, then their labels through ``record_outcome``. One classifier's accuracy falls
from 95 % to 60 % halfway through; the evaluator finds it, with the estimated start and
the detection time, and alerts while the window (one day) is still open. The other
one's stays at 95 % and raises nothing. Then the window closes and the report, the API
and ``/metrics`` carry the change.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
from e2e_support import Clock, get, wait

from otel_ml.evaluator import EvaluatorApp
from otel_ml.evaluator._config import parse_config

HERE = Path(__file__).parent
N, CALL = 2000, 100


def test_a_fall_in_accuracy_is_found_and_alerted_before_the_window_closes(tmp_path: Path) -> None:
    cfg = parse_config(
        {
            "state_dir": "state",
            "receivers": {"http": {"port": 0}, "grpc": {"enabled": False}},
            "api": {"port": 0},
            "windows": {"size": "1d", "grace": "1s"},
            "alerts": {},  # the built-in rules, performance_change among them
        },
        base_dir=tmp_path,
    )
    clock = Clock()
    app = EvaluatorApp.from_config(cfg, clock=clock)
    app.start(tick_interval=0.1)
    try:
        ep = app.endpoints()
        log = tmp_path / "app.log"
        proc = subprocess.run(
            [
                sys.executable,
                str(HERE / "e2e_change_app.py"),
                ep["otlp_http"],
                str(tmp_path / "a.npz"),
            ],
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            timeout=120,
        )
        assert proc.returncode == 0, log.read_text()[-3000:]
        raw = np.load(tmp_path / "a.npz")
        store, engine = app.store, app.alert_engine
        assert engine is not None

        # every label of both models fed (the app has exited: all of it is durable)
        def fed(model: str) -> bool:
            state = store.changes.state(model, "1")
            return state is not None and state["fed"] == N

        wait("all labels fed", lambda: fed("steady") and fed("falling"))
        firing = wait(
            "the performance_change alerts",
            lambda: (
                [t for t in engine.firing() if t.rule == "performance_change"]
                if len([t for t in engine.firing() if t.rule == "performance_change"]) == 2
                else None
            ),
        )
        # ... while the day's window is still open: nothing was evaluated yet
        assert store.count("reports") == 0
        assert {(t.model, t.metric) for t in firing} == {
            ("falling", "page_hinkley"),
            ("falling", "adwin"),
        }
        starts = raw["falling_starts"]
        half = starts[N // 2 // CALL]  # the call whose rows were the first of the fall
        for t in firing:
            d = dict(t.details)
            assert half - 0.5 <= d["change_start"] <= starts[N // 2 // CALL + 2], (d, half)
            assert half <= d["detected_at"] <= starts[-1] + 1.0
            assert d["mean_before"] < 0.1 and d["mean_after"] > 0.2
        assert store.changes.recent("steady") == []

        # the day ends: the window's report, the API and /metrics carry the change
        now = clock()
        clock.offset = (now // 86400 + 1) * 86400 + 2 - time.time()
        api = ep["api"]
        report = wait(
            "the falling model's report",
            lambda: json.loads(get(api + "/api/models")) and _report(api, "falling"),
        )
        section = report["change_detection"]
        assert section["detectors"] == ["page_hinkley", "adwin"]
        assert {c["detector"] for c in section["changes"] if c["direction"] == "up"} == {
            "page_hinkley",
            "adwin",
        }
        assert {c["detector"] for c in report["recent_changes"]} >= {"page_hinkley", "adwin"}
        assert {a["rule"] for a in report["alerts"]} >= {"performance_change"}
        steady = wait("the steady model's report", lambda: _report(api, "steady"))
        assert steady["change_detection"]["changes"] == [] and steady["recent_changes"] == []
        assert not [a for a in steady["alerts"] if a["rule"] == "performance_change"]
        prom = get(api + "/metrics").decode()
        assert "ml_performance_changes_total{" in prom and 'ml_model_name="falling"' in prom
        page = get(api + "/models/falling").decode()
        assert "Changes of the per-prediction error" in page
    finally:
        app.stop()


def _report(api: str, model: str) -> dict[str, object] | None:
    try:
        return json.loads(get(f"{api}/api/models/{model}/report"))  # type: ignore[no-any-return]
    except urllib.error.HTTPError:
        return None
