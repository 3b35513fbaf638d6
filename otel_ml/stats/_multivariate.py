"""Multivariate drift: a window's reconstruction errors against the reference's.

The reference profile's :class:`~otel_ml.sketch._multivariate.ReconstructionModel`
(a PCA of the standardised numeric features) gives every row a reconstruction error;
the SDK exports the sketch of a window's errors as the feature
``multivariate.reconstruction_error`` (``semconv.MULTIVARIATE_ERROR_FEATURE``) and the
CLI computes it from the table. :func:`multivariate_drift` compares that sketch with the
reference's error sketch exactly as a numeric feature is compared
(:func:`~otel_ml.stats.compare_feature` under the :class:`~otel_ml.stats.DriftPolicy`:
an effect size -- the Wasserstein distance over the reference errors' standard
deviation -- at or above ``numeric_threshold`` AND the KS + decile chi-square test
below the level of one feature of the model, ``alpha`` / its number of features
(Bonferroni, as for a window of those features), with at least ``min_rows`` rows). So
its false-alarm rate is bounded like one feature's; the features' own verdicts do not
change (it is not counted in their correction). Measured: ``docs/benchmarks.md``.

Examples
--------
>>> import numpy as np
>>> from otel_ml.sketch import Profile
>>> rng = np.random.default_rng(1)
>>> def table(n, rho):
...     a = rng.normal(size=n)
...     b = rho * a + np.sqrt(1 - rho**2) * rng.normal(size=n)
...     return {"a": a, "b": b, "c": rng.normal(size=n)}
>>> ref = Profile.from_data(table(20_000, 0.8))
>>> same = multivariate_drift(ref.multivariate, ref.multivariate.error_sketch(table(2_000, 0.8)))
>>> flip = multivariate_drift(ref.multivariate, ref.multivariate.error_sketch(table(2_000, -0.8)))
>>> same.drifted, flip.drifted, flip.method, flip.alpha  # 0.01 / 3 features
(False, True, 'pca_reconstruction_error', 0.0033333333333333335)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from otel_ml import semconv
from otel_ml.sketch._multivariate import RECONSTRUCTION_METHOD, ReconstructionModel
from otel_ml.sketch._numeric import NumericSketch
from otel_ml.stats._json import float_or_nan, json_number
from otel_ml.stats._policy import DriftPolicy

__all__ = ["MultivariateDrift", "multivariate_drift"]


@dataclass(frozen=True, kw_only=True)
class MultivariateDrift:
    """The multivariate verdict of one window.

    ``statistic`` is the effect size named by ``effect`` (the policy's numeric effect,
    by default the Wasserstein distance between the window's and the reference's
    reconstruction errors over the reference errors' standard deviation) and
    ``threshold`` its threshold; ``test`` / ``p_value`` the significance test;
    ``mean_error`` / ``reference_mean_error`` the mean reconstruction errors;
    ``features`` the numeric features of the PCA and ``n_components`` the components
    kept; ``alpha`` the significance level the p-value was held to (the policy's alpha
    over the model's number of features).
    """

    drifted: bool
    method: str
    statistic: float
    threshold: float
    effect: str
    test: str
    p_value: float
    mean_error: float
    reference_mean_error: float
    n_reference: int
    n_current: int
    n_components: int
    features: tuple[str, ...]
    reason: str
    alpha: float = math.nan

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``"multivariate"`` of ``otel-ml drift --json`` and of the
        evaluator's reports); NaN and infinities as ``None``."""
        return {
            "drifted": self.drifted,
            "method": self.method,
            "statistic": json_number(self.statistic),
            "threshold": json_number(self.threshold),
            "effect": self.effect,
            "test": self.test,
            "p_value": json_number(self.p_value),
            "mean_error": json_number(self.mean_error),
            "reference_mean_error": json_number(self.reference_mean_error),
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "n_components": self.n_components,
            "features": list(self.features),
            "reason": self.reason,
            "alpha": json_number(self.alpha),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MultivariateDrift:
        """Inverse of :meth:`to_dict` (``None`` reads as NaN)."""
        return cls(
            drifted=bool(d["drifted"]),
            method=str(d["method"]),
            statistic=float_or_nan(d["statistic"]),
            threshold=float_or_nan(d["threshold"]),
            effect=str(d.get("effect") or ""),
            test=str(d.get("test") or ""),
            p_value=float_or_nan(d.get("p_value")),
            mean_error=float_or_nan(d.get("mean_error")),
            reference_mean_error=float_or_nan(d.get("reference_mean_error")),
            n_reference=int(d.get("n_reference", 0)),
            n_current=int(d.get("n_current", 0)),
            n_components=int(d.get("n_components", 0)),
            features=tuple(str(f) for f in d.get("features", ())),
            reason=str(d.get("reason") or ""),
            alpha=float_or_nan(d.get("alpha")),
        )


def multivariate_drift(
    model: ReconstructionModel,
    current: NumericSketch,
    *,
    policy: DriftPolicy | None = None,
) -> MultivariateDrift:
    """Compare a window's reconstruction-error sketch with the reference's (see the
    module docstring); ``current`` comes from :meth:`ReconstructionModel.error_sketch`
    or from the SDK's ``multivariate.reconstruction_error`` feature."""
    from otel_ml.stats._compare import compare_feature  # _compare imports this module

    policy = policy or DriftPolicy()
    fd = compare_feature(
        semconv.MULTIVARIATE_ERROR_FEATURE,
        model.reference_errors,
        current,
        policy=policy,
        n_tests=len(model.features),  # the level of one of its features
    )
    return MultivariateDrift(
        drifted=fd.drifted,
        method=RECONSTRUCTION_METHOD,
        statistic=fd.statistic,
        threshold=fd.threshold,
        effect=fd.method,
        test=fd.test,
        p_value=fd.p_value,
        mean_error=current.mean,
        reference_mean_error=model.reference_errors.mean,
        n_reference=fd.n_reference,
        n_current=fd.n_current,
        n_components=model.n_components,
        features=model.features,
        reason=fd.reason,
        alpha=fd.alpha,
    )
