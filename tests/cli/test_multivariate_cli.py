"""`otel-ml drift` with a profile that has a multivariate model: the correlation flip."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from otel_ml.cli import main
from otel_ml.sketch._multivariate import DEFAULT_VARIANCE


def _write(path: Path, n: int, rho: float, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    b = rho * a + np.sqrt(1 - rho**2) * rng.normal(size=n)
    cols = {"a": a.round(4), "b": b.round(4), "c": rng.gamma(2.0, 1.0, n).round(4),
            "city": rng.choice(["oslo", "rome"], n)}
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(list(cols))
        w.writerows(zip(*cols.values(), strict=True))
    return path


@pytest.fixture()
def profile(tmp_path: Path) -> Path:
    out = tmp_path / "profile.json"
    train = _write(tmp_path / "train.csv", 20_000, 0.8, 1)
    assert main(["profile", str(train), "-o", str(out)]) == 0
    return out


def test_a_flipped_correlation_drifts_only_in_the_multivariate_check(
    profile: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flipped = _write(tmp_path / "flipped.csv", 2_000, -0.8, 2)
    capsys.readouterr()
    assert main(["drift", str(profile), str(flipped), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["n_drifted"] == 0 and doc["drifted"] is True
    mv = doc["multivariate"]
    assert mv["drifted"] is True and mv["method"] == "pca_reconstruction_error"
    assert mv["statistic"] >= mv["threshold"] > 0
    assert mv["features"] == ["a", "b", "c"]
    assert main(["drift", str(profile), str(flipped), "--html", str(tmp_path / "r.html")]) == 1
    out = capsys.readouterr().out
    assert "DRIFT in the multivariate check (no single feature of 4 drifted)" in out
    row = next(line for line in out.splitlines() if line.startswith("(multivariate)"))
    assert row.rstrip().endswith("DRIFT")
    html = (tmp_path / "r.html").read_text()
    assert "Multivariate" in html and "pca_reconstruction_error" in html


def test_unchanged_data_is_not_flagged(
    profile: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    same = _write(tmp_path / "same.csv", 2_000, 0.8, 3)
    capsys.readouterr()
    assert main(["drift", str(profile), str(same), "--json"]) == 0
    mv = json.loads(capsys.readouterr().out)["multivariate"]
    assert mv["drifted"] is False and mv["n_current"] == 2_000


def test_without_a_feature_of_the_model_there_is_no_multivariate_verdict(
    profile: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flipped = _write(tmp_path / "flipped.csv", 2_000, -0.8, 4)
    lines = flipped.read_text().splitlines()
    (tmp_path / "no_c.csv").write_text(
        "\n".join(",".join(x for i, x in enumerate(line.split(",")) if i != 2) for line in lines)
    )
    capsys.readouterr()
    assert main(["drift", str(profile), str(tmp_path / "no_c.csv"), "--ignore-missing"]) == 0
    assert "multivariate check not run: the data lacks some of its features ('c')" in (
        capsys.readouterr().out
    )


def test_the_share_of_variance_is_an_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train = _write(tmp_path / "train.csv", 2_000, 0.8, 1)
    out = tmp_path / "p.json"
    assert main(["profile", str(train), "-o", str(out), "--multivariate-variance", "0.9"]) == 0
    section = json.loads(out.read_text())["multivariate"]
    assert section["variance"] == 0.9 and len(section["components"]) == 2
    assert main(["profile", str(train), "-o", str(out)]) == 0
    assert json.loads(out.read_text())["multivariate"]["variance"] == DEFAULT_VARIANCE
    capsys.readouterr()
    for bad in ("1", "0", "nan", "-1"):
        assert main(["profile", str(train), "-o", str(out), "--multivariate-variance", bad]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "--multivariate-variance: must be in (0, 1)" in err
