"""Change detection on the error stream: each joined prediction's error, fed to
Page-Hinkley and ADWIN (:mod:`otel_ml.stats`) per model version.

::

    label join (write transaction) ──► error_queue ──► ErrorStreams.run (each tick)
                                                       │ per model version, in prediction
                                                       │ time order within the batch:
                                                       │ 0/1 error or |y - ŷ| / scale
                                                       ▼
                                       detectors ──► FoundChange (changes table, alerts,
                                                     the window's report, the counter)

What is fed. Classification: 0 when the predicted class equals the label, else 1 (a
binary prediction sent as a score only is read as class ``1``/``True`` at score
>= 0.5, as the window's metrics read it). Regression: the absolute error divided by
the model version's *scale*, ten times the mean absolute error of its first
``warmup`` labelled predictions (held back until then, then fed), so that a steady
regressor's stream has mean 0.1, like a classifier's with a 10 % error rate: the
detectors' thresholds are in units of the values they see, and a model whose errors
are in dollars, one whose errors are in meters and a classifier get the same
sensitivity to a relative rise of their error. Two guards against a single wild label
(a sentinel, a unit slip): each scaled error is capped at ``REGRESSION_CAP`` (1, ten
times the first mean: a prediction weighs at most what a misclassification does,
where one error of 1,000 times the mean fired both detectors on its own), and the
warm-up's mean is taken over errors capped at ten times their median (one such label
among the first 100 made the scale, and the evidence a rise needs, ten times larger
for good). Rows with nothing to compare (no predicted class, a missing value) are
counted and skipped.

Order. Labels arrive late and in any order. Each tick takes the rows joined since the
last one (at most ``batch`` at a time) and feeds each model version's rows in
*prediction-time* order; a label that arrives after labels of later predictions is
fed when it arrives, not re-ordered into the past (the detectors are sequential and
never rewind). So the stream is exact when labels come in prediction order or in
batches covering a span of predictions (a nightly labelling job), and otherwise late
labels enter the stream late, which delays a detection; but when a label's delay
depends on its value (wrong answers labelled later than right ones), the errors come in
clumps and a steady model shows rises (docs/drift.md, "Order"); ``hold`` then makes
each row wait until its prediction is that old, so that rows are fed in prediction
order as long as their labels come within ``hold``. ``time`` and
``start_time`` of a change are prediction times.

State. Each model version's detectors are kept in the store (``change_state``, JSON,
bounded: a few numbers, Page-Hinkley's ``history`` latest errors, ADWIN's logarithmic
buckets) and written in the transaction that removes the rows they consumed, so a
restart resumes where it stopped, each joined prediction fed exactly once.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from otel_ml._config import (
    check_keys,
    config_error,
    read_bool,
    read_duration,
    read_int,
    read_mapping,
)
from otel_ml._errors import ConfigurationError
from otel_ml.evaluator._report import FoundChange
from otel_ml.evaluator._store_changes import ChangeTable, QueuedError
from otel_ml.stats import ADWIN, Change, ChangeDetector, PageHinkley, detector_from_dict

__all__ = ["ChangeOptions", "ErrorStreams", "parse_change_options"]

_log = logging.getLogger(__name__)

_DETECTORS: dict[str, type[PageHinkley] | type[ADWIN]] = {
    PageHinkley.name: PageHinkley,
    ADWIN.name: ADWIN,
}
#: A regression model's steady error, as its detectors see it: like a classifier's error
#: rate of 10 %, so that the same thresholds mean the same for both.
REGRESSION_LEVEL = 0.1
#: The largest scaled regression error fed (ten times the first mean error): one wild
#: label weighs at most what a misclassification does.
REGRESSION_CAP = 1.0
#: Model versions whose detectors stay in memory between batches (about 140 kB each,
#: mostly Page-Hinkley's 2,000 latest values and times); the others are read back from
#: the store when their errors come (a JSON of about 75 kB).
MAX_CACHED_STREAMS = 64
_CLASSIFICATION = "classification"
_REGRESSION = "regression"
_POSITIVE = {"1": "0", "True": "False", "true": "false"}  # a positive class: its negative
_NEGATIVE = {n: p for p, n in _POSITIVE.items()}


@dataclass(frozen=True)
class ChangeOptions:
    """The ``change_detection:`` section: which detectors with which parameters.

    The defaults are river's, except Page-Hinkley's ``mode: up`` (only a rise of the
    error is a degradation; ADWIN finds both directions and only rises alert).
    """

    enabled: bool = True
    detectors: Mapping[str, Mapping[str, Any]] = field(
        default_factory=lambda: {PageHinkley.name: {"mode": "up"}, ADWIN.name: {}}
    )
    warmup: int = 100
    batch: int = 10_000
    hold: float = 0.0

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.detectors) if self.enabled else ()

    def make(self) -> dict[str, ChangeDetector]:
        return {name: _DETECTORS[name](**params) for name, params in self.detectors.items()}


def parse_change_options(value: object) -> ChangeOptions:
    """The ``change_detection:`` section (absent: both detectors, river's defaults).

    >>> parse_change_options({"detectors": {"adwin": {"delta": 0.01}}}).names
    ('adwin',)
    >>> parse_change_options({"detectors": {"adwin": {"delta": 2}}})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    otel_ml._errors.ConfigurationError: change_detection.detectors.adwin.delta: got 2; give ...
    """
    d = read_mapping(value, "change_detection")
    check_keys(d, ("enabled", "detectors", "warmup", "batch", "hold"), "change_detection")
    default = ChangeOptions()
    detectors: dict[str, Mapping[str, Any]] = dict(default.detectors)
    if "detectors" in d:
        raw = read_mapping(d["detectors"], "change_detection.detectors")
        check_keys(raw, tuple(_DETECTORS), "change_detection.detectors")
        detectors = {}
        for name, params in raw.items():
            path = f"change_detection.detectors.{name}"
            p: dict[str, Any] = dict(read_mapping(params, path))
            if name == PageHinkley.name:
                p.setdefault("mode", "up")
            cls = _DETECTORS[name]
            check_keys(p, tuple(cls().params()), path)
            try:
                cls(**p)
            except ConfigurationError as exc:  # "ADWIN.delta: got 2; give ..."
                field_and_rest = str(exc).split(".", 1)[1]
                raise ConfigurationError(f"{path}.{field_and_rest}") from None
            except TypeError as exc:
                raise config_error(path, str(exc), "give numbers") from None
            detectors[name] = p
    enabled = read_bool(d.get("enabled", True), "change_detection.enabled")
    if enabled and not detectors:
        raise config_error(
            "change_detection.detectors",
            "is empty",
            "name page_hinkley or adwin, or set change_detection.enabled: false",
        )
    return ChangeOptions(
        enabled=enabled,
        detectors=detectors,
        warmup=read_int(
            d.get("warmup", 100), "change_detection.warmup", minimum=1, maximum=100_000
        ),
        batch=read_int(
            d.get("batch", 10_000), "change_detection.batch", minimum=1, maximum=1_000_000
        ),
        hold=read_duration(d.get("hold", 0.0), "change_detection.hold"),
    )


@dataclass
class _Stream:
    """One model version's error stream: its task, scale, warm-up rows and detectors."""

    task: str | None
    scale: float | None
    warmup: list[tuple[float, float]]
    detectors: dict[str, ChangeDetector]
    fed: int = 0
    skipped: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "scale": self.scale,
            "warmup": self.warmup,
            "detectors": {n: d.to_dict() for n, d in self.detectors.items()},
            "fed": self.fed,
            "skipped": self.skipped,
        }


def _error(row: QueuedError) -> tuple[str, float] | None:
    """The row's task and error, or ``None`` when there is nothing to compare."""
    if row.actual_label is not None:
        predicted, actual = row.label, row.actual_label
        if predicted is None and row.score is not None and math.isfinite(row.score):
            if actual in _POSITIVE:
                positive, negative = actual, _POSITIVE[actual]
            elif actual in _NEGATIVE:
                positive, negative = _NEGATIVE[actual], actual
            else:
                return None
            predicted = positive if row.score >= 0.5 else negative
        if predicted is None:
            return None
        return _CLASSIFICATION, 0.0 if predicted == actual else 1.0
    if row.actual_value is None or row.score is None:
        return None
    err = abs(row.actual_value - row.score)
    return (_REGRESSION, err) if math.isfinite(err) else None


class ErrorStreams:
    """Feeds the queued errors to each model version's detectors (see the module doc).

    Parameters
    ----------
    options
        The ``change_detection:`` section.
    table
        The store part holding the queue, the detectors' state and the changes.
    """

    def __init__(self, options: ChangeOptions, table: ChangeTable) -> None:
        self.options = options
        self.table = table
        self._streams: dict[tuple[str, str], _Stream] = {}
        self.fed = 0
        self.skipped = 0
        self.failed = 0  # rows dropped after a failure (see run)

    def _stream(self, model: str, version: str) -> _Stream:
        got = self._streams.pop((model, version), None)
        if got is not None:
            self._streams[(model, version)] = got  # the most recently used last
            return got
        saved = self.table.state(model, version)
        wanted = self.options.make()
        if saved is None:
            s = _Stream(None, None, [], wanted)
        else:
            dets = {}
            for name, fresh in wanted.items():
                old = saved["detectors"].get(name)
                # a detector whose parameters changed in the configuration starts afresh
                keep = old is not None and old["params"] == fresh.to_dict()["params"]
                dets[name] = detector_from_dict(old) if keep else fresh
            s = _Stream(
                saved["task"],
                saved["scale"],
                [(float(x), float(t)) for x, t in saved["warmup"]],
                dets,
                int(saved.get("fed", 0)),
                int(saved.get("skipped", 0)),
            )
        if len(self._streams) >= MAX_CACHED_STREAMS:  # the store holds every stream's state
            self._streams.pop(next(iter(self._streams)))  # the least recently used
        self._streams[(model, version)] = s
        return s

    def run(self, now: float = math.inf) -> list[FoundChange]:
        """Feed everything queued when called, ``batch`` rows per transaction; the changes
        found. Rows joined meanwhile wait for the next call, so a flood of labels never
        keeps the tick from evaluating windows; so do the rows of predictions made less
        than ``hold`` seconds before ``now`` (their labels may still be coming).

        A store failure (``sqlite3.Error``) propagates, the rows stay queued and the next
        call feeds them. Any other failure of a batch (a bug: it would fail again) is
        logged and counted (:attr:`failed`) and the batch is dropped, so that one bad row
        never stops the detectors, nor the evaluation of windows after them.
        """
        found: list[FoundChange] = []
        through = self.table.last()
        while True:
            rows = self.table.take(
                self.options.batch, through, predicted_before=now - self.options.hold
            )
            if not rows:
                return found
            try:
                found += self._feed(rows)
            except sqlite3.Error:
                self._streams.clear()  # in memory may be ahead of the store: re-read it
                raise
            except Exception:  # noqa: BLE001 - counted and logged; the batch is dropped
                self._streams.clear()
                self.failed += len(rows)
                _log.exception(
                    "change detection failed on %d joined predictions; "
                    "they are dropped from the error stream",
                    len(rows),
                )
                self.table.commit([r.seq for r in rows], {}, [])

    def _feed(self, rows: list[QueuedError]) -> list[FoundChange]:
        by_stream: dict[tuple[str, str], list[QueuedError]] = {}
        for r in rows:
            by_stream.setdefault((r.model, r.version), []).append(r)
        found: list[FoundChange] = []
        states = {}
        for (model, version), mine in by_stream.items():
            s = self._stream(model, version)
            mine.sort(key=lambda r: (r.t, r.seq))
            for r in mine:
                got = _error(r)
                if got is None or (s.task is not None and got[0] != s.task):
                    s.skipped += 1
                    self.skipped += 1
                    continue
                s.task, err = got
                for change in self._push(s, err, r.t):
                    found.append(FoundChange(model, version, s.task, change, s.scale or 1.0))
            states[(model, version)] = s.to_dict()
        self.table.commit([r.seq for r in rows], states, found)
        return found

    def _push(self, s: _Stream, err: float, t: float) -> list[Change]:
        if s.task == _REGRESSION and s.scale is None:
            s.warmup.append((err, t))
            if len(s.warmup) < self.options.warmup:
                return []
            s.scale = _scale([x for x, _ in s.warmup])
            pending, s.warmup = s.warmup, []
        else:
            pending = [(err, t)]
        out = []
        scale = s.scale if s.task == _REGRESSION and s.scale else 1.0
        for x, tt in pending:
            s.fed += 1
            self.fed += 1
            v = min(x / scale, REGRESSION_CAP) if s.task == _REGRESSION else x
            for det in s.detectors.values():
                det.update(v, tt)
                if det.drift_detected and det.change is not None:
                    c = det.change
                    if scale != 1.0:  # the means in the units of the error
                        c = _rescaled(c, scale)
                    out.append(c)
        return out


def _scale(errors: list[float]) -> float:
    """Ten times the mean of the warm-up's absolute errors, each capped at ten times
    their median (1.0 when they are all 0).

    >>> _scale([1.0] * 99 + [1e6])  # one wild label does not set the scale
    10.9
    """
    med = statistics.median(errors)
    capped = [min(e, 10.0 * med) for e in errors] if med > 0 else errors
    mean = math.fsum(capped) / len(capped)
    return mean / REGRESSION_LEVEL if mean > 0 else 1.0


def _rescaled(c: Change, scale: float) -> Change:
    return replace(c, mean_before=c.mean_before * scale, mean_after=c.mean_after * scale)
