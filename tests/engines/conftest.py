"""Shared by the engine tests: an engine's profile against the in-memory one of the same rows."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

from otel_ml.sketch import Profile


def assert_same_profile(engine: Profile, memory: Profile) -> None:
    """Same features, kinds, rows and skipped columns; numeric sketches equal field by field
    (the sum up to float rounding); categorical sketches equal."""
    assert list(engine.features) == list(memory.features)
    assert engine.skipped == memory.skipped
    assert engine.n_rows == memory.n_rows
    for name, f in memory.features.items():
        e: dict[str, Any] = engine.features[name].to_dict()
        m: dict[str, Any] = f.to_dict()
        assert e["kind"] == m["kind"], name
        es, ms = e["sketch"], m["sketch"]
        if "sum" in ms:
            assert math.isclose(es.pop("sum"), ms.pop("sum"), rel_tol=1e-12, abs_tol=1e-9), name
        assert es == ms, name


@pytest.fixture
def same_profile() -> Callable[[Profile, Profile], None]:
    return assert_same_profile
