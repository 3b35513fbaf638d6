"""The numbers of one evaluated window, flat, as the evaluator's sinks log them.

:data:`WINDOW_METRICS` is the one table of what a window gives: each entry is a
family (the first part of every key) and a function from the window's
:class:`~otel_ml.evaluator._report.ModelReport` to ``(key, value)`` pairs. A new
kind of result (estimated performance, multivariate drift, graded verdicts...)
reaches every sink by adding one entry. :func:`window_metrics` applies the table,
adds the alerts the window fired, keeps finite values only and makes each key one
that MLflow accepts (letters, digits, ``_ - . : /`` and spaces, at most 250
characters), so a feature named ``"age (years)"`` logs as ``drift/age _years_/psi``.

Keys
----
======================================  ===========================================
``drift/<feature>/<statistic>``         each drift statistic of the verdict (``psi``,
                                        ``ks``, ``wasserstein``... as ``ml.drift.score``)
``drift/<feature>/drifted``             the policy verdict, 1 drifted, 0 not
``drift/<feature>/grade``               the graded verdict, 2 drift, 1 minor, 0 none
``drift/<feature>/p_value``             the test's p-value
``prediction_drift/<output>/...``       the same for each prediction output
``multivariate/drifted``, ``/p_value``  the multivariate (PCA reconstruction error) verdict,
``multivariate/<effect>``,              its effect size (``wasserstein``...), test p-value
``multivariate/mean_error``             and the window's mean reconstruction error
``quality/<feature>/<issue>``           the issue's rate (``quality/row/<issue>`` for
                                        the whole row / schema)
``performance/<metric>``                realised performance from joined labels
``estimated_performance/<metric>``      performance estimated without labels (CBPE:
(and ``.../lower``, ``.../upper``)      ``accuracy``, ``f1``, ``roc_auc``...) and its band
``labels/coverage``, ``labels/labelled``,  labelled share, labelled rows, median label
``labels/delay_p50``                    delay (s)
``window/rows``, ``window/error_rate``,  rows, share of failed calls, latency p95 (s)
``window/latency_p95``
``alerts/fired``, ``alerts/resolved``   alert transitions of this window (0 if none)
======================================  ===========================================

Examples
--------
>>> from otel_ml.evaluator._report import ModelReport, QualityRate
>>> r = ModelReport(model="m", version="1", window_start=0.0, window_end=300.0, n_rows=10,
...                 verdict_ready=False, quality=(QualityRate("age (years)", "missing", 1, 0.1),))
>>> sorted(window_metrics(r, ()).items())  # doctest: +NORMALIZE_WHITESPACE
[('alerts/fired', 0.0), ('alerts/resolved', 0.0), ('quality/age _years_/missing', 0.1),
 ('window/rows', 10.0)]
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import MappingProxyType

from otel_ml.alerting import AlertState, AlertTransition
from otel_ml.evaluator._metrics_export import DRIFT_SCORE_METHODS
from otel_ml.evaluator._report import FeatureReport, ModelReport

__all__ = ["MAX_KEY_LENGTH", "WINDOW_METRICS", "WindowMetrics", "metric_key", "window_metrics"]

#: ``values(report)``: the ``(key, value)`` pairs of one family (key without the family).
WindowMetrics = Callable[[ModelReport], Iterable[tuple[str, float]]]

#: MLflow's longest metric key.
MAX_KEY_LENGTH = 250

_BAD_CHARS = re.compile(r"[^\w.\- ]")


def _drift(features: Sequence[FeatureReport]) -> Iterator[tuple[str, float]]:
    for f in features:
        if f.drift is None:
            continue
        name = _segment(f.name)
        for method, value in f.drift.statistics.items():
            if method in DRIFT_SCORE_METHODS:
                yield f"{name}/{method}", value
        yield f"{name}/drifted", float(f.drift.drifted)
        yield f"{name}/grade", float(f.drift.verdict.level)
        yield f"{name}/p_value", f.drift.p_value


def _feature_drift(r: ModelReport) -> Iterator[tuple[str, float]]:
    return _drift(r.features)


def _prediction_drift(r: ModelReport) -> Iterator[tuple[str, float]]:
    return _drift(r.predictions)


def _quality(r: ModelReport) -> Iterator[tuple[str, float]]:
    for q in r.quality:
        yield f"{_segment(q.feature or 'row')}/{_segment(q.issue)}", q.rate


def _performance(r: ModelReport) -> Iterator[tuple[str, float]]:
    if r.performance is not None:
        for name, value in r.performance.values().items():
            yield _segment(name), value


def _estimated(r: ModelReport) -> Iterator[tuple[str, float]]:
    e = r.estimated
    if e is None:
        return
    for name, m in e.metrics().items():
        yield _segment(name), m.value
        yield f"{_segment(name)}/lower", m.lower
        yield f"{_segment(name)}/upper", m.upper


def _multivariate(r: ModelReport) -> Iterator[tuple[str, float]]:
    mv = r.multivariate
    if mv is None:
        return
    yield "drifted", float(mv.drifted)
    yield _segment(mv.effect), mv.statistic
    yield "p_value", mv.p_value
    yield "mean_error", mv.mean_error


def _labels(r: ModelReport) -> Iterator[tuple[str, float]]:
    p = r.performance
    if p is None:
        return
    yield "coverage", p.coverage
    yield "labelled", float(p.n_labelled)
    if p.delay_p50 is not None:
        yield "delay_p50", p.delay_p50


def _window(r: ModelReport) -> Iterator[tuple[str, float]]:
    yield "rows", float(r.n_rows)
    ops = r.operations
    if ops.calls > 0:
        if ops.error_rate is not None:
            yield "error_rate", ops.error_rate
        if ops.latency_p95 is not None:
            yield "latency_p95", ops.latency_p95


#: What each window logs, family by family (see the module docstring for the keys).
#: To log a new result of the evaluation, add its family here.
WINDOW_METRICS: Mapping[str, WindowMetrics] = MappingProxyType(
    {
        "drift": _feature_drift,
        "prediction_drift": _prediction_drift,
        "quality": _quality,
        "multivariate": _multivariate,
        "performance": _performance,
        "estimated_performance": _estimated,
        "labels": _labels,
        "window": _window,
    }
)


def _fired(r: ModelReport, alerts: Sequence[AlertTransition]) -> dict[str, float]:
    """Alert transitions of this window (not reminders of alerts already firing)."""
    mine = [
        t for t in alerts
        if not t.repeat and t.model == r.model and (t.version or "") == r.version
        and t.window_end == r.window_end
    ]
    return {
        "alerts/fired": float(sum(t.state is AlertState.FIRING for t in mine)),
        "alerts/resolved": float(sum(t.state is AlertState.RESOLVED for t in mine)),
    }


def window_metrics(
    report: ModelReport, alerts: Sequence[AlertTransition] | None
) -> dict[str, float]:
    """Every finite number of ``report`` by MLflow-valid key, with the alerts it fired
    (``None``: not known, no ``alerts/`` keys)."""
    out: dict[str, float] = {}
    for family, values in WINDOW_METRICS.items():
        for key, value in values(report):
            if value is not None and math.isfinite(value):
                out[metric_key(f"{family}/{key}")] = float(value)
    if alerts is not None:
        out.update(_fired(report, alerts))
    return out


def _segment(name: str) -> str:
    """One path segment of a key: characters MLflow refuses become ``_``; never empty,
    ``.`` or ``..`` (MLflow refuses keys that a path normalisation would change)."""
    s = _BAD_CHARS.sub("_", name)
    return (s.replace(".", "_") or "_") if s.strip(".") == "" else s


def metric_key(key: str) -> str:
    """``key`` cut to MLflow's limit; a long key keeps a hash of the whole, so two long
    keys that share their first 230 characters stay apart.

    >>> len(metric_key("drift/" + "x" * 300 + "/psi"))
    250
    """
    if len(key) <= MAX_KEY_LENGTH:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"{key[: MAX_KEY_LENGTH - 17]}-{digest}"
