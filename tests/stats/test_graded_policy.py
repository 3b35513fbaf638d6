"""The graded verdict's edges: an effect exactly at the threshold, a p-value exactly at the
corrected level, and the same corrected level for ``minor`` as for ``drift``."""

from __future__ import annotations

from typing import Any

from otel_ml.stats import DriftPolicy, Grade

_ARGS: dict[str, Any] = dict(effect_name="psi", threshold=0.1, test_name="ks", n_reference=10_000,
             n_current=1_000)


def test_an_effect_at_the_threshold_is_drift_and_a_p_value_at_the_level_is_not() -> None:
    p = DriftPolicy(alpha=0.01)
    assert p.decide(effect=0.1, p_value=1e-9, n_tests=1, **_ARGS).grade is Grade.DRIFT
    at_level = p.decide(effect=0.5, p_value=0.01, n_tests=1, **_ARGS)
    assert at_level.grade is Grade.NONE and not at_level.drifted


def test_minor_is_held_to_the_corrected_level_as_drift_is() -> None:
    """Ten features tested together at alpha 0.01: each is held to 0.001. A p-value of
    0.005 is neither drift (big effect) nor minor (small effect); 0.0005 is either."""
    p = DriftPolicy(alpha=0.01)
    for effect, grade in ((0.5, Grade.DRIFT), (0.01, Grade.MINOR)):
        v = p.decide(effect=effect, p_value=0.005, n_tests=10, **_ARGS)
        assert v.grade is Grade.NONE and v.level == 0.001
        assert p.decide(effect=effect, p_value=0.0005, n_tests=10, **_ARGS).grade is grade
