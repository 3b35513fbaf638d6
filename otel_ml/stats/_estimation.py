"""Estimated performance without labels: confidence-based performance estimation (CBPE).

A classifier whose scores are calibrated probabilities tells how often it is
right: a row scored 0.8 is positive with probability 0.8. CBPE (as in NannyML)
turns the scores of a window into the *expected* confusion matrix, and from it
the expected accuracy, precision, recall, F1 and ROC AUC, before any label
arrives. Everything here works on sketches, never on rows:

- **Calibration**, from the reference profile's :class:`~otel_ml.sketch.ScoreCalibration`
  (per score bucket: reference rows and positives). Scores are always
  calibrated, because a model's raw scores are calibrated only by luck and a
  reference that is calibrated is left nearly as it is: per bucket the
  reference's rate of positives, made monotone by isotonic regression (pool
  adjacent violators, weighted by the bucket's reference rows), which pools
  sparse buckets with their neighbours. A bucket the reference never saw
  holds a hundredth of a pseudo-row at the model's own score (the bucket's
  midpoint): it keeps that score unless monotonicity says otherwise. (A
  heavier prior, ten rows, biased an overconfident model's estimate:
  ``benchmarks/estimated_performance.py``.) NannyML fits isotonic regression
  on the raw reference rows; here the same fit runs on the buckets of the
  score sketch.
- **Resolution**: the exponential layout is finest near 0 and coarsest near 1
  (one bucket can hold every score from 0.92 to 1). With the two columns of a
  ``predict_proba`` output (the SDK exports both), scores above 0.5 are read
  from the other class's ``1 - p`` sketch, which is finest there; a single
  ``score`` output keeps the coarse top.
- **Estimate**, per bucket of the window's score sketch (aligned with the
  reference's at the coarser scale): ``n`` rows at calibrated probability ``c``
  add ``n·c`` expected positives and ``n·(1-c)`` negatives, to the predicted
  positive side when the bucket lies above the decision threshold (0.5 by
  default: the exponential layout has a bucket boundary at 0.5, so the split is
  exact; a threshold inside a bucket splits it linearly). ROC AUC is that of
  the expected counts, as NannyML computes it from calibrated probabilities;
  rows of one bucket count as ties (half a pair each) plus the pairs that the
  calibrated probability's rise across the bucket orders (``n² r / 12`` for a
  rise ``r``, scores spread evenly), so a coarse bucket does not pull the
  estimate towards 0.5.
- **Uncertainty band**: where the *realised* metric of a window of this size is
  expected to fall if the model's scores mean what they meant on the reference.
  Each of 1,000 draws (a fixed seed, so the same window gives the same band)
  takes a plausible calibration -- every isotonic block moved by its sampling
  error on the reference rows it pooled -- then labels per bucket from
  ``Binomial(n, c)``, and computes the metrics; the central ``confidence``
  share of them is the band (95 % by default): the sampling error at the
  window's size plus that of a finite reference. NannyML instead scales the
  standard deviation of the reference's per-row metric by ``1/sqrt(n)`` and
  shows ±3 of it.

Assumptions (``docs/drift.md``): no concept shift -- ``P(label | score)`` is the
reference's -- and the calibration map covers the window's scores. A concept
change leaves the scores, hence the estimate, where they were while realised
accuracy falls: that is why the evaluator shows both.

Examples
--------
A perfectly calibrated reference (the share of positives equals the score in
every bucket) and a window of 100 rows scored 0.9 and 100 scored 0.2: the
expected accuracy is ``(100·0.9 + 100·0.8) / 200 = 0.85``.

>>> import numpy as np
>>> from otel_ml.sketch import NumericSketch, ScoreCalibration
>>> def sketch(values):
...     s = NumericSketch(); s.update(np.asarray(values, dtype=float)); return s
>>> ref = sketch([0.9] * 1000 + [0.2] * 1000)
>>> pos = sketch([0.9] * 900 + [0.2] * 200)
>>> cal = ScoreCalibration("score", "1", ref, pos)
>>> e = estimate_binary(cal, sketch([0.9] * 100 + [0.2] * 100))
>>> round(e.accuracy.value, 3), round(e.precision.value, 3), round(e.recall.value, 3)
(0.85, 0.9, 0.818)
>>> e.accuracy.lower < 0.85 < e.accuracy.upper
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import isotonic_regression

from otel_ml.semconv import PREDICTION_OUTPUT_ARGMAX_PREFIX
from otel_ml.sketch import NumericSketch, ScoreCalibration
from otel_ml.sketch._calibration import positive_class
from otel_ml.stats._json import float_or_nan, json_number

__all__ = [
    "ESTIMATED_METRICS",
    "EstimatedMetric",
    "EstimatedPerformance",
    "estimate_binary",
    "estimate_multiclass",
    "estimate_performance",
]

#: The metrics estimated, in the order reports show them.
ESTIMATED_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")

_PRIOR_ROWS = 0.01  # pseudo-rows at the model's own score in every calibration bucket
_DRAWS = 1000  # simulated label draws behind the band
_SEED = 20240613  # fixed: the same window gives the same band

_F = npt.NDArray[np.float64]


@dataclass(frozen=True)
class EstimatedMetric:
    """An estimated metric and its band (NaN when undefined, e.g. no predicted positive)."""

    value: float
    lower: float
    upper: float

    def to_dict(self) -> dict[str, float | None]:
        return {
            "value": json_number(self.value),
            "lower": json_number(self.lower),
            "upper": json_number(self.upper),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EstimatedMetric:
        return cls(float_or_nan(d["value"]), float_or_nan(d["lower"]), float_or_nan(d["upper"]))


@dataclass(frozen=True)
class EstimatedPerformance:
    """What CBPE expects of a window's performance, from its scores alone.

    ``output`` is the prediction output whose scores were used and ``positive_class``
    the class they are the probability of; ``confidence`` the band's coverage. A
    multiclass estimate (:func:`estimate_multiclass`) has ``positive_class``
    ``"macro"`` (precision, recall, F1 and one-vs-rest ROC AUC are macro averages over
    the classes), ``output`` the class columns joined by commas and ``threshold`` NaN
    (the predicted class is the largest column).
    """

    output: str
    positive_class: str
    n_rows: int
    threshold: float
    confidence: float
    accuracy: EstimatedMetric
    precision: EstimatedMetric
    recall: EstimatedMetric
    f1: EstimatedMetric
    roc_auc: EstimatedMetric
    method: str = "cbpe"

    def metrics(self) -> dict[str, EstimatedMetric]:
        """The estimated metrics by name (:data:`ESTIMATED_METRICS` order)."""
        return {name: getattr(self, name) for name in ESTIMATED_METRICS}

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``{"method", "output", "positive_class", "n_rows", "threshold",
        "confidence", "accuracy": {"value", "lower", "upper"}, ...}`` (null for NaN)."""
        return {
            "method": self.method,
            "output": self.output,
            "positive_class": self.positive_class,
            "n_rows": self.n_rows,
            "threshold": json_number(self.threshold),
            "confidence": self.confidence,
            **{name: m.to_dict() for name, m in self.metrics().items()},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EstimatedPerformance:
        return cls(
            output=str(d["output"]),
            positive_class=str(d["positive_class"]),
            n_rows=int(d["n_rows"]),
            threshold=float_or_nan(d["threshold"]),
            confidence=float(d["confidence"]),
            method=str(d.get("method", "cbpe")),
            **{name: EstimatedMetric.from_dict(d[name]) for name in ESTIMATED_METRICS},
        )


def _grid(sketch: NumericSketch, scale: int) -> tuple[npt.NDArray[np.int64], _F, float]:
    """Indices and counts of the positive buckets at ``scale``, and the zero count."""
    s = sketch.downscaled(scale)
    idx = np.arange(s.positive_counts.size, dtype=np.int64) + s.positive_offset
    return idx, s.positive_counts.astype(np.float64), float(s.zero_count)


def _on(idx: npt.NDArray[np.int64], where: npt.NDArray[np.int64], counts: _F) -> _F:
    out = np.zeros(idx.size, dtype=np.float64)
    out[np.searchsorted(idx, where)] = counts
    return out


def _is_probability(sketch: NumericSketch) -> bool:
    return sketch.count > 0 and sketch.min >= 0.0 and sketch.max <= 1.0


_Side = tuple[_F, _F, _F, _F, _F]  # lower, upper, reference rows, reference positives, window


def _aligned(cal: ScoreCalibration, window: NumericSketch) -> _Side:
    """The buckets of the reference's and the window's sketches of one output at their
    common scale, ascending, the zero bucket (exact zeros) first."""
    scale = min(cal.scores.scale, cal.positives.scale, window.scale)
    ri, rc, rz = _grid(cal.scores, scale)
    pi, pc, pz = _grid(cal.positives, scale)
    wi, wc, wz = _grid(window, scale)
    idx = np.union1d(np.union1d(ri, pi), wi)
    width = 2.0 ** -float(scale)
    return (
        np.concatenate(([0.0], np.exp2(idx * width))),
        np.concatenate(([0.0], np.exp2((idx + 1) * width))),
        np.concatenate(([rz], _on(idx, ri, rc))),
        np.concatenate(([pz], _on(idx, pi, pc))),
        np.concatenate(([wz], _on(idx, wi, wc))),
    )


def _two_sided(low: _Side, high: _Side) -> _Side | None:
    """Scores up to 0.5 from the positive class's sketch, above 0.5 from the negative
    class's (``1 - p``): each side's buckets are finest near its own 0, so scores near 1
    keep the resolution that scores near 0 have. The counts above 0.5 are the positive
    sketch's (exact: 0.5 is a bucket boundary at every scale >= 0), spread as the
    negative sketch's buckets below 0.5 say (a score of exactly 0.5 sits on both)."""
    lo_l, lo_u, lo_rn, lo_rp, lo_w = low
    keep = lo_u <= 0.5
    hi_l, hi_u, hi_rn, hi_rp, hi_w = (a[::-1] for a in high)  # ascending in p = 1 - q
    top = hi_u <= 0.5
    above_w, above_rn = lo_w[~keep].sum(), lo_rn[~keep].sum()
    above_rp = lo_rp[~keep].sum()
    w_q, rn_q = hi_w[top].sum(), hi_rn[top].sum()
    if not (np.all(lo_l[~keep] >= 0.5) and (w_q > 0 or above_w == 0)
            and (rn_q > 0 or above_rn == 0)):
        return None
    rp_q = (hi_rn - hi_rp)[top]  # reference rows of the positive class above 0.5
    w_scale = above_w / w_q if w_q > 0 else 0.0
    rn_scale = above_rn / rn_q if rn_q > 0 else 0.0
    rp_scale = above_rp / rp_q.sum() if rp_q.sum() > 0 else 0.0
    return (
        np.concatenate((lo_l[keep], 1.0 - hi_u[top])),
        np.concatenate((lo_u[keep], 1.0 - hi_l[top])),
        np.concatenate((lo_rn[keep], hi_rn[top] * rn_scale)),
        np.concatenate((lo_rp[keep], rp_q * rp_scale)),
        np.concatenate((lo_w[keep], hi_w[top] * w_scale)),
    )


def _calibrated(side: _Side) -> _F:
    """Calibrated probability per bucket: the reference's rate of positives shrunk to the
    bucket's own score by ``_PRIOR_ROWS``, made monotone (isotonic regression)."""
    lower, upper, ref_n, ref_pos, _ = side
    score = np.clip((lower + upper) / 2.0, 0.0, 1.0)
    weight = ref_n + _PRIOR_ROWS
    observed = (np.clip(ref_pos, 0.0, ref_n) + _PRIOR_ROWS * score) / weight
    out: _F = np.clip(isotonic_regression(observed, weights=weight).x, 0.0, 1.0)
    return out


def _calibration_draws(cal: _F, ref_n: _F, rng: np.random.Generator) -> _F:
    """``_DRAWS`` plausible calibrations: each isotonic block (a run of buckets pooled to
    one value) moves by its own sampling error, ``sqrt(c (1 - c) / rows)`` of the
    reference rows it pooled; buckets the reference never saw do not move."""
    starts = np.flatnonzero(np.concatenate(([True], np.diff(cal) != 0)))
    block = np.cumsum(np.isin(np.arange(cal.size), starts)) - 1
    rows = np.bincount(block, weights=ref_n)
    c = cal[starts]
    with np.errstate(divide="ignore", invalid="ignore"):
        sd = np.where(rows > 0, np.sqrt(c * (1.0 - c) / rows), 0.0)
    noise = rng.standard_normal((_DRAWS, starts.size)) * sd
    out: _F = np.clip(cal + noise[:, block], 0.0, 1.0)
    return out


def _predicted_positive_share(lower: _F, upper: _F, threshold: float) -> _F:
    """Share of each bucket's rows above ``threshold`` (buckets hold ``(lower, upper]``;
    a bucket the threshold cuts is split linearly)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        inside = (upper - threshold) / (upper - lower)
    share = np.where(lower >= threshold, 1.0, np.where(upper <= threshold, 0.0, inside))
    return np.asarray(np.nan_to_num(share, nan=0.0), dtype=np.float64)


def _rise(calibrated: _F) -> _F:
    """How much the calibrated probability rises across each bucket: half the step
    between its neighbours', the whole step to its one neighbour for the first and the
    last bucket (``np.gradient``; halving it there, as a copy of the end bucket as its
    missing neighbour does, halved the rise of the top bucket, the coarsest); none for
    the zero bucket of exact zeros."""
    c = np.concatenate(([calibrated[1] if calibrated.size > 1 else 0.0], calibrated[1:]))
    rise = np.gradient(c) if c.size > 1 else np.zeros_like(c)
    rise[0] = 0.0
    out: _F = np.maximum(rise, 0.0)
    return out


def _metrics(pp: _F, pn: _F, pos_pp: _F, pos_pn: _F, pairs_within: _F) -> dict[str, _F]:
    """Metrics of rows predicted positive ``pp`` / negative ``pn`` per bucket, of which
    ``pos_pp`` / ``pos_pn`` are positive (last axis: buckets, ascending score).

    ``pairs_within`` adds, per bucket, the positive-above-negative pairs that ties
    counted half miss: scores spread across a bucket whose calibrated probability rises
    by ``r`` order ``n² r / 12`` more pairs right than wrong (uniform scores, linear rise).
    """
    tp, fn = pos_pp.sum(-1), pos_pn.sum(-1)
    fp, tn = (pp - pos_pp).sum(-1), (pn - pos_pn).sum(-1)
    n = tp + fn + fp + tn
    positives = pos_pp + pos_pn
    negatives = pp + pn - positives
    below = np.cumsum(negatives, axis=-1) - negatives
    with np.errstate(divide="ignore", invalid="ignore"):
        auc_num = (positives * (below + negatives / 2.0)).sum(-1) + pairs_within.sum(-1)
        return {
            "accuracy": (tp + tn) / n,
            "precision": tp / (tp + fp),
            "recall": tp / (tp + fn),
            "f1": 2 * tp / (2 * tp + fp + fn),
            "roc_auc": auc_num / (positives.sum(-1) * negatives.sum(-1)),
        }


def _bands(
    expected: Mapping[str, _F | float], simulated: Mapping[str, _F], confidence: float
) -> dict[str, EstimatedMetric]:
    """Each metric's value and the central ``confidence`` share of its simulated draws."""
    tail = (1.0 - confidence) / 2.0
    out: dict[str, EstimatedMetric] = {}
    for name in ESTIMATED_METRICS:
        value = float(expected[name])
        sims = simulated[name][np.isfinite(simulated[name])]
        if not math.isfinite(value) or sims.size == 0:
            out[name] = EstimatedMetric(value, math.nan, math.nan)
            continue
        lo, hi = np.quantile(sims, [tail, 1.0 - tail])
        out[name] = EstimatedMetric(value, min(float(lo), value), max(float(hi), value))
    return out


def estimate_binary(
    calibration: ScoreCalibration,
    window: NumericSketch,
    *,
    complement: tuple[ScoreCalibration, NumericSketch] | None = None,
    threshold: float = 0.5,
    confidence: float = 0.95,
) -> EstimatedPerformance | None:
    """Estimated performance of a window from its score sketch and the reference's
    calibration of the same output (``None`` when the window has no scores in ``[0, 1]``).

    Parameters
    ----------
    calibration
        The reference's scores and positives for the output.
    window
        The window's sketch of the same output (``ml.prediction.values``).
    complement
        The other class's calibration and window sketch (the two columns of
        ``predict_proba``, which the SDK exports both): scores above 0.5 are then read
        from the other class's ``1 - p`` sketch, whose buckets are fine near ``p = 1``
        where the positive class's are coarsest.
    threshold
        The decision threshold: a row scored above it is predicted positive (0.5 is
        ``predict``'s choice for two classes).
    confidence
        The coverage of each metric's band.
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if not _is_probability(window):
        return None
    side = _aligned(calibration, window)
    if complement is not None and _is_probability(complement[1]):
        side = _two_sided(side, _aligned(*complement)) or side
    lower, upper, ref_n, _, win_n = side
    cal = _calibrated(side)
    share = _predicted_positive_share(lower, upper, threshold)
    pp, pn = win_n * share, win_n * (1.0 - share)
    within = (pp + pn) ** 2 * _rise(cal) / 12.0
    expected = _metrics(pp, pn, pp * cal, pn * cal, within)
    # The band: a plausible calibration, labels drawn per bucket as it says, the metrics.
    rng = np.random.default_rng(_SEED)
    pp_i, pn_i = np.rint(pp).astype(np.int64), np.rint(pn).astype(np.int64)
    cals = _calibration_draws(cal, ref_n, rng)
    draws_pp = rng.binomial(pp_i, cals).astype(np.float64)
    draws_pn = rng.binomial(pn_i, cals).astype(np.float64)
    simulated = _metrics(
        pp_i.astype(np.float64), pn_i.astype(np.float64), draws_pp, draws_pn, within
    )
    out = _bands(expected, simulated, confidence)
    return EstimatedPerformance(
        output=calibration.output,
        positive_class=calibration.positive_class,
        n_rows=int(window.count),
        threshold=threshold,
        confidence=confidence,
        accuracy=out["accuracy"],
        precision=out["precision"],
        recall=out["recall"],
        f1=out["f1"],
        roc_auc=out["roc_auc"],
    )


def _binary_output(calibration: Mapping[str, ScoreCalibration]) -> str | None:
    """The output whose scores a binary estimate uses: ``score``, else the positive
    class's column of a two-class probability matrix."""
    if "score" in calibration:
        return "score"
    by_class = {c.positive_class: name for name, c in calibration.items()}
    positive = positive_class(set(by_class)) if len(by_class) == 2 else None
    return None if positive is None else by_class[positive]


def estimate_performance(
    calibration: Mapping[str, ScoreCalibration],
    scores: Mapping[str, NumericSketch],
    *,
    complements: Mapping[str, NumericSketch] | None = None,
    threshold: float = 0.5,
    confidence: float = 0.95,
) -> EstimatedPerformance | None:
    """Estimated performance of a classifier's window (see :func:`estimate_binary`, and
    :func:`estimate_multiclass` for a profile of three or more class columns).

    ``calibration`` is a reference profile's (``Profile.calibration``) and ``scores`` the
    window's sketches by prediction output (a profile of a 1-D ``score`` also reads a
    window of the two class columns, named by class, as ``predict_proba`` exports them);
    ``complements`` optional sketches of ``1 - score`` by output (for a 1-D ``score``,
    whose reference calibration keeps its complement: scores near 1 are then read at
    full resolution). ``None`` when there is
    nothing to estimate from: no calibration (a profile built without labels or
    probability outputs), more than two classes with a 1-D score, or no scores of the
    calibrated outputs in the window.

    >>> estimate_performance({}, {}) is None
    True
    """
    if any(n.startswith(PREDICTION_OUTPUT_ARGMAX_PREFIX) for n in calibration):
        return estimate_multiclass(calibration, scores, confidence=confidence)
    output = _binary_output(calibration)
    if output is None:
        return None
    cal = calibration[output]
    complement = None
    if output not in scores:
        # A profile of a 1-D score and a window of the two class columns (the SDK's
        # names for predict_proba): the positive class's column is the same score.
        other = cal.complement
        if output != "score" or cal.positive_class not in scores:
            return None
        if other is not None and other.positive_class in scores:
            complement = (other, scores[other.positive_class])
        return estimate_binary(cal, scores[cal.positive_class], complement=complement,
                               threshold=threshold, confidence=confidence)
    others = [n for n in calibration if n != output and n in scores]
    if output != "score" and len(calibration) == 2 and others:
        complement = (calibration[others[0]], scores[others[0]])
    elif cal.complement is not None and complements and output in complements:
        complement = (cal.complement, complements[output])
    return estimate_binary(
        cal,
        scores[output],
        complement=complement,
        threshold=threshold,
        confidence=confidence,
    )


def _aligned_many(
    sketches: list[NumericSketch],
) -> tuple[_F, _F, list[_F]]:
    """Bucket bounds and each sketch's counts on the union of their buckets at their
    common scale, ascending, the zero bucket (exact zeros) first."""
    scale = min(s.scale for s in sketches)
    grids = [_grid(s, scale) for s in sketches]
    idx = grids[0][0]
    for g in grids[1:]:
        idx = np.union1d(idx, g[0])
    width = 2.0 ** -float(scale)
    return (
        np.concatenate(([0.0], np.exp2(idx * width))),
        np.concatenate(([0.0], np.exp2((idx + 1) * width))),
        [np.concatenate(([z], _on(idx, i, c))) for i, c, z in grids],
    )


def _safe_ratio(num: _F, den: _F) -> _F:
    """``num / den``, 0 where ``den`` is 0 (scikit-learn's ``zero_division=0``)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out: _F = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
    return out


def estimate_multiclass(
    calibration: Mapping[str, ScoreCalibration],
    scores: Mapping[str, NumericSketch],
    *,
    confidence: float = 0.95,
) -> EstimatedPerformance | None:
    """Estimated performance of a multiclass window from its per-class score sketches.

    ``calibration`` is a reference profile's for a probability matrix of three or more
    classes: per class ``c`` the one-vs-rest calibration of its column (output ``c``)
    and that of ``p_c`` on the rows ``c`` won (output ``argmax:c``). ``scores`` are the
    window's sketches of the same outputs, as the SDK exports them. The predicted class
    is the largest column. Per class (as NannyML's multiclass CBPE, one-vs-rest):

    - the rows predicted ``c`` (the ``argmax:c`` sketch, of ``1 - p_c``, finest where
      a prediction is confident) at the calibrated probability of being wrong give its
      expected false positives, the rest of them true positives;
    - every row's ``p_c`` (the ``c`` sketch) at its one-vs-rest calibrated probability
      gives the expected rows of class ``c``; less the true positives, its expected
      false negatives;
    - ROC AUC one-vs-rest from the same sketch and calibration, as
      :func:`estimate_binary` computes it (``p_c`` above 0.5 read from the
      ``argmax:c`` sketch: only the class that won a row can score above 0.5 there).

    Accuracy is the expected true positives of every class over the rows; precision,
    recall, F1 and ROC AUC are macro averages (the unweighted mean over the classes;
    a class never predicted has precision 0, as scikit-learn's ``zero_division=0``).
    The band is simulated as for a binary estimate, class by class. ``None`` when a
    class has no calibration or no ``argmax:`` sketch reached the window (an SDK that
    does not export them).

    NannyML applies each class's one-vs-rest map to the rows it won too; here those rows
    have their own map (a score of 0.4 that wins among three classes is more often
    right than one that loses), read at the resolution of ``1 - p``.

    A window of 100 rows won by each class with a score calibrated at 0.8, on a
    reference where every class column is calibrated, is expected 80 % accurate:

    >>> import numpy as np
    >>> def sketch(values):
    ...     s = NumericSketch(); s.update(np.asarray(values, dtype=float)); return s
    >>> cal, win = {}, {}
    >>> for c in "abc":
    ...     won = ScoreCalibration(f"argmax:{c}", c, sketch([0.2] * 1000),
    ...                            sketch([0.2] * 200))
    ...     ovr = ScoreCalibration(c, c, sketch([0.8] * 1000 + [0.1] * 2000),
    ...                            sketch([0.8] * 800 + [0.1] * 200))
    ...     cal[c], cal[f"argmax:{c}"] = ovr, won
    ...     win[c] = sketch([0.8] * 100 + [0.1] * 200)
    ...     win[f"argmax:{c}"] = sketch([0.2] * 100)
    >>> e = estimate_multiclass(cal, win)
    >>> round(e.accuracy.value, 3), round(e.precision.value, 3), round(e.recall.value, 3)
    (0.8, 0.8, 0.8)
    >>> e.positive_class, e.output, e.n_rows
    ('macro', 'a,b,c', 300)
    >>> e.accuracy.lower < 0.8 < e.accuracy.upper
    True
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    prefix = PREDICTION_OUTPUT_ARGMAX_PREFIX
    classes = [c.positive_class for n, c in calibration.items() if n.startswith(prefix)]
    if len(classes) < 3 or not any(n.startswith(prefix) for n in scores):
        return None
    if any(c not in calibration or c not in scores for c in classes):
        return None
    if not all(_is_probability(scores[c]) for c in classes):
        return None
    rng = np.random.default_rng(_SEED)
    tp, won_rows, fn, auc = [], [], [], []
    tp_d, won_d, fn_d, auc_d = [], [], [], []
    for c in classes:
        ovr, won = calibration[c], calibration[prefix + c]
        # The rows c won, by 1 - p_c: the calibrated probability that such a row is not c.
        w_lower, w_upper, (w_n, w_err, v_n) = _aligned_many(
            [won.scores, won.positives, scores.get(prefix + c, NumericSketch())]
        )
        cal_err = _calibrated((w_lower, w_upper, w_n, w_err, v_n))
        # Every row, by p_c: the calibrated probability that it is c (one-vs-rest). Above
        # 0.5 every row is one c won: read there from the won rows' 1 - p_c buckets.
        lower, upper, (r_n, r_p, a_n) = _aligned_many([ovr.scores, ovr.positives, scores[c]])
        side = _two_sided(
            (lower, upper, r_n, r_p, a_n), (w_lower, w_upper, w_n, w_err, v_n)
        ) or (lower, upper, r_n, r_p, a_n)
        _, _, r_n, _, a_n = side
        cal_all = _calibrated(side)
        zero = np.zeros_like(a_n)
        within = a_n**2 * _rise(cal_all) / 12.0
        t = float((v_n * (1.0 - cal_err)).sum())
        tp.append(t)
        won_rows.append(float(v_n.sum()))
        fn.append(max(float((a_n * cal_all).sum()) - t, 0.0))
        auc.append(float(_metrics(a_n, zero, a_n * cal_all, zero, within)["roc_auc"]))
        v_i, a_i = np.rint(v_n).astype(np.int64), np.rint(a_n).astype(np.int64)
        t_d = (v_i - rng.binomial(v_i, _calibration_draws(cal_err, w_n, rng))).sum(-1)
        pos = rng.binomial(a_i, _calibration_draws(cal_all, r_n, rng)).astype(np.float64)
        tp_d.append(t_d)
        won_d.append(float(v_i.sum()))
        fn_d.append(np.maximum(pos.sum(-1) - t_d, 0.0))
        a_f = a_i.astype(np.float64)
        auc_d.append(_metrics(a_f, zero, pos, np.zeros_like(pos), within)["roc_auc"])
    n_rows = sum(won_rows)
    if n_rows <= 0:
        return None

    def metrics(t: _F, w: _F, f: _F, a: _F) -> dict[str, _F]:
        # axis 0: classes (then draws)
        return {
            "accuracy": t.sum(0) / w.sum(0),
            "precision": _safe_ratio(t, w).mean(0),
            "recall": _safe_ratio(t, t + f).mean(0),
            "f1": _safe_ratio(2 * t, t + w + f).mean(0),
            "roc_auc": a.mean(0),
        }

    expected = metrics(np.array(tp), np.array(won_rows), np.array(fn), np.array(auc))
    simulated = metrics(
        np.array(tp_d, dtype=np.float64),
        np.array(won_d)[:, None] * np.ones((1, _DRAWS)),
        np.array(fn_d, dtype=np.float64),
        np.array(auc_d),
    )
    out = _bands(expected, simulated, confidence)
    return EstimatedPerformance(
        output=",".join(classes),
        positive_class="macro",
        n_rows=int(round(n_rows)),
        threshold=math.nan,
        confidence=confidence,
        accuracy=out["accuracy"],
        precision=out["precision"],
        recall=out["recall"],
        f1=out["f1"],
        roc_auc=out["roc_auc"],
    )
