"""Graded drift verdicts in the evaluator: a small but certain shift is ``minor`` in the
report, the API's JSON, the ``ml.drift.grade`` gauge and the (opt-in) alert rule."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from evaluator_points import batch, feature_point

from otel_ml.alerting import AlertEngine, ObservationKind, parse_alerting_config
from otel_ml.evaluator._evaluate import Reference, evaluate
from otel_ml.evaluator._metrics_export import DerivedMetrics
from otel_ml.evaluator._report import ModelReport
from otel_ml.evaluator._store import Store
from otel_ml.evaluator._windows import Windowing, WindowKey
from otel_ml.sketch import Profile
from otel_ml.stats import DriftPolicy, Grade


def _report(tmp_path: Path, start: float, rng: np.random.Generator, ref: Reference) -> ModelReport:
    store = Store(tmp_path / f"s{int(start)}.db", Windowing(60.0, 5.0))
    # x: 0.05 sd, certain at 100,000 rows but half the effect threshold; y: unchanged;
    # z: a full standard deviation (drift).
    store.write(
        [
            batch(
                feature_point("m", "x", rng.normal(0.05, 1, 100_000), start + 20),
                feature_point("m", "y", rng.normal(0.0, 1, 100_000), start + 20),
                feature_point("m", "z", rng.normal(1.0, 1, 100_000), start + 20),
            )
        ]
    )
    report = evaluate(store.load_window(WindowKey("m", "1", start, start + 60.0)), ref,
                      DriftPolicy(), min_rows=100)
    store.close()
    return report


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> list[ModelReport]:
    rng = np.random.default_rng(13)
    prof = Profile.from_data({f: rng.normal(0, 1, 200_000) for f in "xyz"}, model="m",
                             version="1")
    ref = Reference(prof, "m@1 (test)")
    tmp = tmp_path_factory.mktemp("graded")
    return [_report(tmp, 60.0 * i, rng, ref) for i in range(2)]


def test_a_small_certain_shift_is_minor_in_the_report_and_its_json(
    reports: list[ModelReport],
) -> None:
    r = reports[0]
    verdicts = {f.name: f.drift.verdict for f in r.features if f.drift is not None}
    assert verdicts == {"x": Grade.MINOR, "y": Grade.NONE, "z": Grade.DRIFT}
    assert r.drifted_features == ("z",) and r.minor_features == ("x",)
    d = r.to_dict()
    assert d["minor_features"] == ["x"]
    x = next(f["drift"] for f in d["features"] if f["name"] == "x")
    assert x["verdict"] == "minor" and x["alpha"] == pytest.approx(0.01 / 3)
    assert x["p_value"] < x["alpha"] and x["statistic"] < x["threshold"]
    assert ModelReport.from_dict(d) == r


def test_the_grade_gauge_reads_2_1_0(reports: list[ModelReport]) -> None:
    metrics = DerivedMetrics(prometheus=True)
    try:
        metrics.update(reports[0])
        text = metrics.prometheus_text().decode()
    finally:
        metrics.shutdown()
    grades = {
        line.split('ml_feature_name="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("ml_drift_grade{")
    }
    assert grades == {"x": 1.0, "y": 0.0, "z": 2.0}
    # One series per feature (like ml_drift_detected): the grade is the value, no new label.
    assert "# HELP ml_drift_grade " in text
    promtool = shutil.which("promtool")
    if promtool is not None:  # the CI image has it (tests/evaluator/test_metrics_exposition.py)
        check = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                               capture_output=True, timeout=60)
        assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()


def _fired(alerts: dict[str, object], reports: list[ModelReport]) -> set[tuple[str, str | None]]:
    engine = AlertEngine(parse_alerting_config({"alerts": alerts}), clock=lambda: 0.0)
    try:
        for r in reports:
            engine.observe(r.observations(), now=r.window_end + 1)
        return {(t.rule, t.feature) for t in engine.firing()}
    finally:
        engine.close()


def test_the_minor_rule_is_off_by_default_and_fires_on_certain_shifts_when_enabled(
    reports: list[ModelReport],
) -> None:
    obs = [o for o in reports[0].observations() if o.kind is ObservationKind.FEATURE_DRIFT_MINOR]
    assert {o.feature: o.verdict for o in obs} == {"x": True, "y": False, "z": True}
    assert all(o.metric == "wasserstein_normalised" for o in obs)
    assert not {rule for rule, _ in _fired({}, reports)} & {"feature_drift_minor"}
    enabled = {"rules": {"feature_drift_minor": {"enabled": True}}}
    minor = {f for rule, f in _fired(enabled, reports) if rule == "feature_drift_minor"}
    assert minor == {"x", "z"}  # certain shifts, small (x) or large (z)
