"""A categorical whose values are all replaced by more new values than the sketch keeps."""

from __future__ import annotations

import numpy as np

from otel_ml.sketch import CategoricalSketch
from otel_ml.stats import DriftPolicy, compare_feature


def _reference() -> CategoricalSketch:
    ref = CategoricalSketch(max_categories=1000)
    ref.update(np.array(["paris", "oslo", "rome"] * 2000))
    return ref


def test_values_replaced_by_an_overflowing_flood_of_new_ones_is_drift() -> None:
    # Before: the vanished reference values were pooled with the overflow, TV = 0, "no drift".
    cur = CategoricalSketch()
    cur.update(np.char.add("u", np.arange(5000).astype(str)))
    fd = compare_feature("city", _reference(), cur, policy=DriftPolicy(), n_tests=1)
    assert fd.drifted
    assert fd.statistics["total_variation"] > 0.9


def test_same_values_with_an_overflowing_tail_is_not_drift() -> None:
    rng = np.random.default_rng(3)
    ref = CategoricalSketch(max_categories=1000)
    tail = np.char.add("t", rng.integers(0, 3000, 3000).astype(str))
    ref.update(np.concatenate([np.array(["paris", "oslo", "rome"] * 2000), tail]))
    cur = CategoricalSketch()
    fresh_tail = np.char.add("t", rng.integers(0, 3000, 3000).astype(str))
    cur.update(np.concatenate([np.array(["paris", "oslo", "rome"] * 2000), fresh_tail]))
    assert cur.overflow > 0
    fd = compare_feature("city", ref, cur, policy=DriftPolicy(), n_tests=1)
    assert not fd.drifted
