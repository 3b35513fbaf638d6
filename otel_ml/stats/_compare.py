"""Compare a window with a reference profile: per-feature statistics and verdicts.

:func:`compare_feature` works on two sketches (what the evaluator has after
rebuilding a window from OTLP); :func:`compare` on a reference
:class:`~otel_ml.stats.Profile` and a current profile or raw table. Both use the
statistics of :mod:`otel_ml.stats._drift` and the verdict of
:class:`~otel_ml.stats.DriftPolicy`; the cost depends on the number of buckets
and categories, never on the number of rows behind the sketches.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> ref = Profile.from_data({"x": rng.normal(0, 1, 20_000), "c": rng.choice(["a", "b"], 20_000)})
>>> report = compare(ref, {"x": rng.normal(0.5, 1, 5_000), "c": rng.choice(["a", "b"], 5_000)})
>>> [(f.feature, f.method, f.drifted) for f in report.features]
[('x', 'wasserstein_normalised', True), ('c', 'total_variation', False)]
>>> report.drifted, report.n_drifted
(True, 1)
>>> [(f.feature, f.verdict.value, f.alpha) for f in report.features]
[('x', 'drift', 0.005), ('c', 'none', 0.005)]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from otel_ml._errors import ConfigurationError, ProfileError, SketchError
from otel_ml.sketch._categorical import CategoricalSketch
from otel_ml.sketch._columns import FeatureKind, columns_of
from otel_ml.sketch._numeric import NumericSketch
from otel_ml.sketch._profile import FeatureProfile, Profile, Sketch
from otel_ml.stats._drift import (
    CategoricalStatistics,
    NumericStatistics,
    categorical_statistics,
    numeric_statistics,
)
from otel_ml.stats._estimation import EstimatedPerformance, estimate_performance
from otel_ml.stats._json import float_or_nan, json_number
from otel_ml.stats._multivariate import MultivariateDrift, multivariate_drift
from otel_ml.stats._numeric_many import numeric_statistics_many
from otel_ml.stats._numeric_reference import NumericReference
from otel_ml.stats._policy import CHI2, KS, KS_CHI2, DriftPolicy, G, Grade

__all__ = ["DriftReport", "FeatureDrift", "compare", "compare_feature", "compare_features"]

# Fields of Numeric/CategoricalStatistics holding each test's p-value.
_P_VALUE_OF = {KS: "ks_p_value", CHI2: "chi2_p_value", KS_CHI2: "ks_chi2_p_value", G: "g_p_value"}


@dataclass(frozen=True, kw_only=True)
class FeatureDrift:
    """Drift of one feature: every statistic, and the policy's verdict.

    ``method`` names the effect-size statistic the verdict used and ``statistic``
    is its value; ``test`` names the significance test and ``p_value`` its
    p-value; ``threshold`` is the effect-size threshold. ``statistics`` holds every
    statistic computed (see :mod:`otel_ml.stats._drift`), ``reason`` the verdict
    in words. ``verdict`` is the graded verdict (:class:`~otel_ml.stats.Grade`:
    ``drift`` exactly when ``drifted``, ``minor`` when the test is significant but
    the effect below ``threshold``, ``none``, ``too_few_rows``) and ``alpha`` the
    significance level the p-value was held to, after the multiple-testing
    correction (``DriftPolicy.test_level``). Built by hand without ``verdict``, a
    drifted feature reads ``drift``; a ``verdict`` that contradicts ``drifted``
    raises ``ValueError``.
    """

    feature: str
    kind: FeatureKind
    method: str
    statistic: float
    p_value: float
    threshold: float
    drifted: bool
    n_reference: int
    n_current: int
    statistics: Mapping[str, float]
    reason: str
    test: str
    verdict: Grade = Grade.NONE
    alpha: float = math.nan

    def __post_init__(self) -> None:
        verdict = Grade(self.verdict)
        if self.drifted and verdict is Grade.NONE:
            verdict = Grade.DRIFT
        if self.drifted != (verdict is Grade.DRIFT):
            raise ValueError(
                f"FeatureDrift {self.feature!r}: verdict {verdict.value!r} contradicts "
                f"drifted={self.drifted}"
            )
        object.__setattr__(self, "verdict", verdict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``otel-ml drift --json``, the evaluator's reports): every field,
        ``kind`` as its string, NaN and infinities as ``None``.

        >>> import numpy as np
        >>> r, c = NumericSketch(), NumericSketch()
        >>> r.update(np.arange(1000.0)); c.update(np.arange(1000.0) + 500)
        >>> fd = compare_feature("x", r, c)
        >>> d = fd.to_dict()
        >>> d["feature"], d["kind"], d["drifted"], d["test"], d["verdict"], d["alpha"]
        ('x', 'numeric', True, 'ks_chi2', 'drift', 0.01)
        >>> FeatureDrift.from_dict(d) == fd
        True
        """
        return {
            "feature": self.feature,
            "kind": self.kind.value,
            "drifted": self.drifted,
            "method": self.method,
            "statistic": json_number(self.statistic),
            "threshold": json_number(self.threshold),
            "test": self.test,
            "p_value": json_number(self.p_value),
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "reason": self.reason,
            "statistics": {k: json_number(v) for k, v in self.statistics.items()},
            "verdict": self.verdict.value,
            "alpha": json_number(self.alpha),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureDrift:
        """Inverse of :meth:`to_dict` (``None`` reads as NaN). Reports stored before
        ``test`` was written read with ``test=""``, before ``reason`` with ``reason=""``;
        before ``verdict``, with ``drift`` or ``none`` from ``drifted`` (``too_few_rows``
        when the reason says so) and ``alpha`` NaN.

        >>> old = {"feature": "x", "kind": "numeric", "method": "ks", "statistic": 0.2,
        ...        "p_value": 0.5, "threshold": 0.1, "drifted": False, "n_reference": 10,
        ...        "n_current": 10, "statistics": {}, "reason": "not enough data: ..."}
        >>> fd = FeatureDrift.from_dict(old)
        >>> fd.verdict.value, fd.alpha
        ('too_few_rows', nan)
        """
        verdict = d.get("verdict")
        if verdict is None:
            verdict = (
                Grade.DRIFT if d["drifted"]
                else Grade.TOO_FEW_ROWS if str(d.get("reason") or "").startswith(_TOO_FEW)
                else Grade.NONE
            )
        return cls(
            feature=str(d["feature"]),
            kind=FeatureKind(d["kind"]),
            method=str(d["method"]),
            statistic=float_or_nan(d["statistic"]),
            p_value=float_or_nan(d["p_value"]),
            threshold=float_or_nan(d["threshold"]),
            drifted=bool(d["drifted"]),
            n_reference=int(d["n_reference"]),
            n_current=int(d["n_current"]),
            statistics={str(k): float_or_nan(v) for k, v in d["statistics"].items()},
            reason=str(d.get("reason") or ""),
            test=str(d.get("test") or ""),
            verdict=Grade(verdict),
            alpha=float_or_nan(d.get("alpha")),
        )


_TOO_FEW = "not enough data"  # how DriftPolicy.decide's reason starts below min_rows


@dataclass(frozen=True)
class DriftReport:
    """The result of :func:`compare`.

    ``drifted`` is true when any feature drifted or the multivariate check did;
    ``predictions`` holds the drift of the model's outputs when both sides have them
    (not part of ``drifted``); ``missing_features`` are reference features absent from
    the current data, ``extra_features`` current columns the reference does not know;
    ``multivariate`` the PCA reconstruction-error check
    (:class:`~otel_ml.stats.MultivariateDrift`) when the reference has its model and
    the current data its features; ``estimated_performance`` the performance CBPE
    expects from the current scores (:func:`~otel_ml.stats.estimate_performance`) when
    the reference has a calibration and the current data the calibrated output.
    """

    features: tuple[FeatureDrift, ...]
    drifted: bool
    n_drifted: int
    policy: DriftPolicy
    predictions: tuple[FeatureDrift, ...] = ()
    missing_features: tuple[str, ...] = ()
    extra_features: tuple[str, ...] = ()
    multivariate: MultivariateDrift | None = None
    estimated_performance: EstimatedPerformance | None = None

    @property
    def n_minor(self) -> int:
        """Features graded ``minor``: a certain shift with an effect below the threshold."""
        return sum(f.verdict is Grade.MINOR for f in self.features)

    def feature(self, name: str) -> FeatureDrift:
        """The result for one feature (``KeyError`` if it was not compared)."""
        for f in self.features:
            if f.feature == name:
                return f
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (the body of ``otel-ml drift --json``): the verdict, the policy
        (:meth:`DriftPolicy.to_dict`) and each feature's :meth:`FeatureDrift.to_dict`;
        ``n_minor`` counts the features graded ``minor`` (read back from the features).

        >>> import numpy as np
        >>> ref = Profile.from_data({"x": np.arange(1000.0)})
        >>> report = compare(ref, {"x": np.arange(1000.0)})
        >>> d = report.to_dict()
        >>> d["drifted"], d["n_features"], d["policy"]["min_rows"], d["features"][0]["feature"]
        (False, 1, 100, 'x')
        >>> DriftReport.from_dict(d) == report
        True
        """
        return {
            "drifted": self.drifted,
            "n_features": len(self.features),
            "n_drifted": self.n_drifted,
            "missing_features": list(self.missing_features),
            "extra_features": list(self.extra_features),
            "policy": self.policy.to_dict(),
            "features": [f.to_dict() for f in self.features],
            "predictions": [f.to_dict() for f in self.predictions],
            "multivariate": None if self.multivariate is None else self.multivariate.to_dict(),
            "n_minor": self.n_minor,
            **(
                {}
                if self.estimated_performance is None
                else {"estimated_performance": self.estimated_performance.to_dict()}
            ),
        }

    @classmethod
    def of(
        cls,
        features: Sequence[FeatureDrift],
        policy: DriftPolicy,
        *,
        predictions: Sequence[FeatureDrift] = (),
        missing_features: Sequence[str] = (),
        extra_features: Sequence[str] = (),
        multivariate: MultivariateDrift | None = None,
        estimated_performance: EstimatedPerformance | None = None,
    ) -> DriftReport:
        """The report of these verdicts: ``drifted`` when any feature (not an output)
        drifted, or the multivariate check did."""
        n_drifted = sum(f.drifted for f in features)
        return cls(
            features=tuple(features),
            drifted=n_drifted > 0 or (multivariate is not None and multivariate.drifted),
            n_drifted=n_drifted,
            policy=policy,
            predictions=tuple(predictions),
            missing_features=tuple(missing_features),
            extra_features=tuple(extra_features),
            multivariate=multivariate,
            estimated_performance=estimated_performance,
        )

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DriftReport:
        """Inverse of :meth:`to_dict` (other keys, such as the CLI's file names, are ignored)."""
        mv = d.get("multivariate")
        est = d.get("estimated_performance")
        return cls(
            features=tuple(FeatureDrift.from_dict(f) for f in d["features"]),
            drifted=bool(d["drifted"]),
            n_drifted=int(d["n_drifted"]),
            policy=DriftPolicy.from_dict(d["policy"]),
            predictions=tuple(FeatureDrift.from_dict(f) for f in d.get("predictions", ())),
            missing_features=tuple(d.get("missing_features", ())),
            extra_features=tuple(d.get("extra_features", ())),
            multivariate=None if mv is None else MultivariateDrift.from_dict(mv),
            estimated_performance=None if est is None else EstimatedPerformance.from_dict(est),
        )


def compare_feature(
    name: str,
    reference_sketch: Sketch | NumericReference,
    current_sketch: Sketch,
    *,
    policy: DriftPolicy | None = None,
    n_tests: int = 1,
) -> FeatureDrift:
    """Compare one feature's current sketch with its reference sketch.

    Parameters
    ----------
    name
        Feature name (copied into the result).
    reference_sketch, current_sketch
        Two :class:`~otel_ml.stats.NumericSketch` (any scales) or two
        :class:`~otel_ml.stats.CategoricalSketch` (any ``max_categories``). A numeric
        reference compared with many windows may be a
        :class:`~otel_ml.stats.NumericReference`: the reference-side work is then done
        once, not per call (same results).
    policy
        Verdict thresholds (default :class:`~otel_ml.stats.DriftPolicy`).
    n_tests
        Number of features tested together in this window (for the correction).

    Raises
    ------
    SketchError
        When one sketch is numeric and the other categorical.

    Examples
    --------
    >>> import numpy as np
    >>> r, c = NumericSketch(), NumericSketch()
    >>> r.update(np.arange(10_000.0)); c.update(np.arange(10_000.0))
    >>> fd = compare_feature("x", r, c)
    >>> fd.drifted, fd.statistic, fd.statistics["ks"]
    (False, 0.0, 0.0)
    """
    policy = policy or DriftPolicy()
    if isinstance(reference_sketch, NumericSketch | NumericReference) and isinstance(
        current_sketch, NumericSketch
    ):
        return _feature_drift(
            name, numeric_statistics(reference_sketch, current_sketch), policy, n_tests
        )
    if isinstance(reference_sketch, CategoricalSketch) and isinstance(
        current_sketch, CategoricalSketch
    ):
        return _feature_drift(
            name, categorical_statistics(reference_sketch, current_sketch), policy, n_tests
        )
    raise _kind_mismatch(name, reference_sketch, current_sketch)


def compare_features(
    features: Sequence[tuple[str, Sketch | NumericReference, Sketch]],
    *,
    policy: DriftPolicy | None = None,
    n_tests: int | None = None,
) -> list[FeatureDrift]:
    """:func:`compare_feature` of every ``(name, reference, current)``, in order, with the
    numeric features' statistics computed together (one NumPy pass over all their
    buckets: :func:`~otel_ml.stats._numeric_many.numeric_statistics_many`), several
    times faster than one call per feature for a window's features. The statistics
    equal :func:`compare_feature`'s up to floating-point rounding (summation order);
    the verdicts are the same.

    ``n_tests`` is the number of features tested together (default: ``len(features)``).
    Raises :class:`~otel_ml.SketchError` as :func:`compare_feature` does.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> pairs = []
    >>> for name, shift in (("a", 0.0), ("b", 0.5)):
    ...     r, c = NumericSketch(), NumericSketch()
    ...     r.update(rng.normal(0, 1, 5000)); c.update(rng.normal(shift, 1, 2000))
    ...     pairs.append((name, r, c))
    >>> [(f.feature, f.verdict.value) for f in compare_features(pairs)]
    [('a', 'none'), ('b', 'drift')]
    >>> [f.verdict for f in compare_features(pairs)] == [
    ...     compare_feature(n, r, c, n_tests=2).verdict for n, r, c in pairs]
    True
    """
    policy = policy or DriftPolicy()
    n_tests = len(features) if n_tests is None else n_tests
    out: list[FeatureDrift | None] = [None] * len(features)
    numeric: list[int] = []
    for i, (name, ref, cur) in enumerate(features):
        if isinstance(ref, NumericSketch | NumericReference) and isinstance(cur, NumericSketch):
            numeric.append(i)
        elif isinstance(ref, CategoricalSketch) and isinstance(cur, CategoricalSketch):
            out[i] = _feature_drift(name, categorical_statistics(ref, cur), policy, n_tests)
        else:
            raise _kind_mismatch(name, ref, cur)
    if numeric:
        many = numeric_statistics_many(
            [features[i][1] for i in numeric],  # type: ignore[misc]
            [features[i][2] for i in numeric],  # type: ignore[misc]
        )
        for i, ns in zip(numeric, many, strict=True):
            out[i] = _feature_drift(features[i][0], ns, policy, n_tests)
    return [f for f in out if f is not None]


def _kind_mismatch(
    name: str, reference: Sketch | NumericReference, current: Sketch
) -> SketchError:
    ref_type = (
        "NumericSketch" if isinstance(reference, NumericReference) else type(reference).__name__
    )
    return SketchError(
        f"feature {name!r}: cannot compare a {ref_type} reference "
        f"with a {type(current).__name__} window"
    )


def _feature_drift(
    name: str,
    statistics: NumericStatistics | CategoricalStatistics,
    policy: DriftPolicy,
    n_tests: int,
) -> FeatureDrift:
    """The policy's verdict on one feature's statistics."""
    stats = dict(vars(statistics))
    if isinstance(statistics, NumericStatistics):
        kind, method = FeatureKind.NUMERIC, policy.numeric_effect
        threshold, test = policy.numeric_threshold, policy.numeric_test
    else:
        kind, method = FeatureKind.CATEGORICAL, policy.categorical_effect
        threshold, test = policy.categorical_threshold, policy.categorical_test
    p_value = float(stats[_P_VALUE_OF[test]])
    n_ref, n_cur = int(stats.pop("n_reference")), int(stats.pop("n_current"))
    effect = float(stats[method])
    if math.isnan(effect):
        effect = 0.0
    verdict = policy.decide(
        effect_name=method,
        effect=effect,
        threshold=threshold,
        test_name=test,
        p_value=p_value,
        n_reference=n_ref,
        n_current=n_cur,
        n_tests=n_tests,
    )
    return FeatureDrift(
        feature=name,
        kind=kind,
        method=method,
        statistic=effect,
        p_value=p_value,
        threshold=threshold,
        drifted=verdict.drifted,
        n_reference=n_ref,
        n_current=n_cur,
        statistics={k: float(v) for k, v in stats.items()},
        reason=verdict.reason,
        test=test,
        verdict=verdict.grade,
        alpha=verdict.level,
    )


def _current_profile(reference: Profile, data: object) -> Profile:
    cols = columns_of(data)  # one column at a time: no copy of the whole table
    features: dict[str, FeatureProfile] = {}
    for name in cols:
        ref = reference.features.get(name)
        if ref is None:
            if name not in reference.skipped:  # a datetime column the reference left out
                features[name] = FeatureProfile.from_column(name, cols)
            continue
        k = ref.sketch.max_categories if isinstance(ref.sketch, CategoricalSketch) else 0
        try:
            features[name] = FeatureProfile.from_column(
                name, cols, ref.kind, max_categories=max(k, 1)
            )
        except ConfigurationError as exc:
            raise ProfileError(f"current data does not fit the reference profile: {exc}") from exc
    return Profile(features=features, n_rows=cols.n_rows)


def compare(
    reference: Profile,
    current: Profile | object,
    *,
    policy: DriftPolicy | None = None,
    reconstruction_errors: NumericSketch | None = None,
    score_complements: Mapping[str, NumericSketch] | None = None,
    argmax_scores: Mapping[str, NumericSketch] | None = None,
) -> DriftReport:
    """Compare current data (a :class:`~otel_ml.stats.Profile` or a raw table) with a reference.

    Every reference feature present on both sides is tested; the Bonferroni
    correction counts them. Raw ``current`` data is sketched with the reference's
    feature kinds; a numeric reference column holding non-numbers raises
    :class:`~otel_ml.ProfileError` naming the column.

    When the reference has a multivariate model (:attr:`Profile.multivariate`), the
    current rows' reconstruction errors are compared too (``DriftReport.multivariate``):
    computed from raw ``current`` data that has every feature of the model, or given as
    ``reconstruction_errors`` (their sketch, from
    :meth:`~otel_ml.sketch._multivariate.ReconstructionModel.error_sketch`) with a
    current :class:`~otel_ml.stats.Profile`, which holds no rows.

    When the reference keeps a calibration (built with labels and probability outputs)
    and the current profile has the calibrated output's scores, the performance they
    promise is estimated (``DriftReport.estimated_performance``, CBPE);
    ``score_complements`` (sketches of ``1 - score`` by output, from the current rows)
    sharpen it for a 1-D score; ``argmax_scores`` (the current rows'
    ``argmax:<class>`` sketches, :func:`~otel_ml.sketch.argmax_sketches`) give a
    multiclass estimate.
    """
    policy = policy or DriftPolicy()
    cur = current if isinstance(current, Profile) else _current_profile(reference, current)
    mv = None
    model = reference.multivariate
    if model is not None:
        if reconstruction_errors is None and not isinstance(current, Profile):
            cols = columns_of(current)
            if all(n in cols for n in model.features):
                reconstruction_errors = model.error_sketch(cols)
        if reconstruction_errors is not None:
            mv = multivariate_drift(model, reconstruction_errors, policy=policy)
    shared = [n for n in reference.features if n in cur.features]
    for n in shared:
        if reference.features[n].kind is not cur.features[n].kind:
            raise ProfileError(
                f"feature {n!r} is {reference.features[n].kind.value} in the reference but "
                f"{cur.features[n].kind.value} in the current data"
            )
    outputs = [o for o in reference.predictions if o in cur.predictions]
    same_kind = [o for o in outputs if reference.predictions[o].kind is cur.predictions[o].kind]
    return DriftReport.of(
        _compare_all(shared, reference.features, cur.features, policy, n_tests=len(shared)),
        policy,
        predictions=_compare_all(
            same_kind, reference.predictions, cur.predictions, policy, n_tests=len(outputs)
        ),
        missing_features=tuple(n for n in reference.features if n not in cur.features),
        extra_features=tuple(n for n in cur.features if n not in reference.features),
        multivariate=mv,
        estimated_performance=estimate_performance(
            reference.calibration,
            {
                n: p.sketch
                for n, p in cur.predictions.items()
                if isinstance(p.sketch, NumericSketch)
            } | dict(argmax_scores or {}),
            complements=score_complements,
        ),
    )


def _compare_all(
    names: Sequence[str],
    reference: Mapping[str, FeatureProfile],
    current: Mapping[str, FeatureProfile],
    policy: DriftPolicy,
    *,
    n_tests: int,
) -> tuple[FeatureDrift, ...]:
    out = []
    drifts = compare_features(
        [(n, reference[n].sketch, current[n].sketch) for n in names],
        policy=policy,
        n_tests=n_tests,
    )
    for n, fd in zip(names, drifts, strict=True):
        if reference[n].kind is FeatureKind.TEXT:  # the sketch of a free-text column's lengths
            fd = replace(fd, kind=FeatureKind.TEXT)
        out.append(fd)
    return tuple(out)
