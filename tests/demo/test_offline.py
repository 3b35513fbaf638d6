"""`otel-ml demo --offline` and the reusable demo data helpers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from otel_ml import ConfigurationError
from otel_ml.cli import main
from otel_ml.demo import SCANNER_RECALIBRATION, Shift, apply_shifts, load_dataset, resample, split
from otel_ml.demo._offline import run_offline

SHIFTED = {"mean radius", "mean perimeter", "mean area"}  # the size measurements


def _offline_demo(argv: list[str]) -> int:
    """Run `otel-ml demo --offline ARGV` in this process; returns the exit code."""
    return main(["demo", "--offline", *argv])


def test_demo_command_detects_the_injected_shift_and_writes_its_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _offline_demo(["--output-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "DRIFT in 3 of 30 features" in out
    assert f"report:  {tmp_path / 'report.html'}" in out
    html = (tmp_path / "report.html").read_text()
    assert html.count("<svg") == 31  # 30 features + the model score
    assert "scanner" in html and "<script" not in html
    # The files it leaves are the offline CLI's own formats: the suggested command works.
    code = main(
        ["drift", str(tmp_path / "reference.profile.json"), str(tmp_path / "production.csv")]
    )
    assert code == 1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exactly_the_shifted_features_drift(tmp_path: Path, seed: int) -> None:
    out = run_offline(tmp_path, seed=seed)
    drifted = {f.feature for f in out["report"].features if f.drifted}
    assert drifted <= {s.feature for s in SCANNER_RECALIBRATION}
    assert drifted >= SHIFTED


def test_without_the_shift_nothing_drifts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _offline_demo(["--output-dir", str(tmp_path), "--no-drift"]) == 0
    assert "no drift in 30 features" in capsys.readouterr().out


def test_demo_data_helpers() -> None:
    data = load_dataset()
    train, holdout = split(data, holdout=0.3, seed=1)
    assert train.n_rows + holdout.n_rows == data.n_rows
    assert abs(train.target.mean() - holdout.target.mean()) < 0.01  # stratified
    rng = np.random.default_rng(0)
    big = resample(holdout, 5000, rng)
    assert big.n_rows == 5000 and all((v >= 0).all() for v in big.features.values())
    shifted = apply_shifts(big, [Shift("mean radius", offset_sd=1.0)], rng, reference=train)
    delta = shifted.features["mean radius"] - big.features["mean radius"]
    assert np.allclose(delta, train.features["mean radius"].std())
    assert shifted.features["mean area"] is big.features["mean area"]  # others untouched
    with pytest.raises(ConfigurationError, match="no feature 'height'"):
        apply_shifts(big, [Shift("height", scale=2)], rng, reference=train)


def test_concept_change_hurts_a_trained_model_and_leaves_inputs_alone() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from otel_ml.demo import concept_change
    from otel_ml.sketch import Profile
    from otel_ml.stats import compare

    data = load_dataset()
    train, holdout = split(data, seed=0)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(train.matrix(), train.target)
    rng = np.random.default_rng(0)
    stream = resample(data, 2000, rng)
    changed = concept_change(stream, rng, flip=0.4)
    before = np.mean(model.predict(stream.matrix()) == stream.target)
    after = np.mean(model.predict(changed.matrix()) == changed.target)
    assert before > 0.95 and after < before - 0.1
    report = compare(Profile.from_data(train.features), changed.features)
    assert not report.drifted  # nothing to see in the inputs: only labels reveal it
    with pytest.raises(ConfigurationError, match="flip"):
        concept_change(stream, rng, flip=2.0)
