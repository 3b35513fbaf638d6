"""Reference profiles: matched by model and version, reloaded on change, errors at start-up."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from otel_ml import ConfigurationError
from otel_ml.evaluator._config_options import ReferenceSpec
from otel_ml.evaluator._references import ReferenceSet
from otel_ml.sketch import Profile


def _save(path: Path, mean: float) -> None:
    Profile.from_data({"x": np.random.default_rng(0).normal(mean, 1, 1000)}).save(path)


def test_exact_version_wins_over_any_version(tmp_path: Path) -> None:
    _save(tmp_path / "any.json", 0.0)
    _save(tmp_path / "v2.json", 5.0)
    refs = ReferenceSet([
        ReferenceSpec("m", tmp_path / "any.json"),
        ReferenceSpec("m", tmp_path / "v2.json", "2"),
    ])
    r2, r1 = refs.get("m", "2"), refs.get("m", "1")
    assert r2 is not None and "v2.json" in r2.label
    assert r1 is not None and "any.json" in r1.label
    assert refs.get("other", "2") is None


def test_reload_on_change_and_keep_last_good_on_error(tmp_path: Path) -> None:
    path = tmp_path / "ref.json"
    _save(path, 0.0)
    now = [0.0]
    changes: list[str] = []
    refs = ReferenceSet([ReferenceSpec("m", path)], check_interval=10.0, clock=lambda: now[0],
                        on_change=lambda spec, sha: changes.append(sha))
    first = refs.get("m", None)
    assert first is not None and len(changes) == 1
    _save(path, 3.0)
    os.utime(path, (1e9, 1e9))
    assert refs.get("m", None) is first  # not checked again before check_interval
    now[0] = 11.0
    second = refs.get("m", None)
    assert second is not first and refs.reloads == 1 and len(changes) == 2
    assert second is not None and second.profile.features["x"].sketch.mean == pytest.approx(
        3.0, abs=0.1)
    path.write_text("{ not a profile")
    now[0] = 22.0
    assert refs.get("m", None) is second and refs.errors == 1


def test_unreadable_profile_stops_startup(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    with pytest.raises(ConfigurationError, match=r"references\[0\]\.path"):
        ReferenceSet([ReferenceSpec("m", bad)])
