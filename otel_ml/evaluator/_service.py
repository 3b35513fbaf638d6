"""The evaluator service: a bounded ingest queue in front of the store, and the window loop.

Ingest
------
:meth:`EvaluatorService.submit` is the receivers' :class:`~otel_ml.evaluator.IngestSink`.
It puts the batch on a bounded queue and waits until the writer thread has
committed it to SQLite (several queued batches share one commit); only then does
it answer accepted, and only then does the receiver answer 200. Cumulative points are
turned into deltas in the writer thread too, batch after batch in queue order, and
the converter's state advances only when their commit succeeded: batches with
cumulative points (the SDK's own counters and duration histogram, by default) share
group commits like the others. When the queue
is full it answers at once with ``SubmitResult.overloaded(retry_after)`` (HTTP
503/429 + ``Retry-After``, gRPC ``UNAVAILABLE``): memory stays bounded by
``queue_size`` batches whatever the offered load. A batch the store refuses as
inconsistent is accepted and its points counted and reported (partial success) as
rejected (retrying it could never succeed); a store failure (disk full, locked)
answers "retry later".

Windows
-------
:meth:`EvaluatorService.tick` evaluates every closed window with new data (first
evaluation, late points, or newly joined labels), stores its report, publishes
the derived metrics, hands the observations to the alert engine and the reports (with
the alerts they fired) to the window sinks (the MLflow sink queues them in its outbox
and returns: it never waits for MLflow). A background
thread calls it every ``tick_interval`` seconds; tests call it directly with
their own clock. A window whose evaluation raises is *quarantined*: logged and
counted once, listed with the reason (``/healthz``, the model page, the
``otel_ml.evaluator.windows.quarantined`` gauge) and never evaluated again, so one
poisoned window never blocks the other windows or models. A failing store (an
``sqlite3`` error) is not the window's fault: the next tick tries again.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from opentelemetry.metrics import CallbackOptions
from opentelemetry.metrics import Observation as MetricObservation

from otel_ml import semconv as sc
from otel_ml._errors import OtelMlError
from otel_ml._version import __version__
from otel_ml.alerting import AlertTransition, Observation, ObservationKind
from otel_ml.evaluator._change_detection import ErrorStreams
from otel_ml.evaluator._config_options import EvaluatorConfig
from otel_ml.evaluator._evaluate import evaluate
from otel_ml.evaluator._metrics_export import DerivedMetrics, HealthSnapshot
from otel_ml.evaluator._records import (
    CounterPoint,
    HistogramPoint,
    IngestBatch,
    Rejection,
    SubmitResult,
)
from otel_ml.evaluator._references import ReferenceSet
from otel_ml.evaluator._report import FoundChange, ModelReport, change_observations
from otel_ml.evaluator._store import Store
from otel_ml.evaluator._temporality import CumulativeToDelta
from otel_ml.evaluator._windows import WindowKey
from otel_ml.stats import DriftPolicy

__all__ = ["EvaluatorService"]

_log = logging.getLogger(__name__)

#: Why every record of a batch the store refuses as inconsistent is rejected.
R_STORE_REFUSED = "store refused"

#: ``alerts(observations, now)``; the :class:`AlertTransition` values it returns (as
#: ``AlertEngine.observe`` does) reach the window sinks.
AlertSink = Callable[[Sequence[Observation], float], object]


class WindowSink(Protocol):
    """Takes each tick's new reports and the alert transitions they caused; must not block."""

    def submit(
        self, reports: Sequence[ModelReport], alerts: Sequence[AlertTransition], now: float
    ) -> None: ...


@dataclass
class _Pending:
    batch: IngestBatch
    done: threading.Event = field(default_factory=threading.Event)
    result: SubmitResult | None = None


class EvaluatorService:
    """Wires the store, references, evaluation, derived metrics and alerts.

    Parameters
    ----------
    config
        Parsed configuration (windows, ingest and label options are read from it).
    store
        The durable state.
    references
        Reference profiles.
    policy
        The ``DriftPolicy``.
    metrics
        Where reports are published as OTel metrics (``None``: nowhere).
    alerts
        ``alerts(observations, now)``, e.g. ``AlertEngine.observe`` (``None``: no alerting).
    sinks
        Where each tick's reports go besides the store (the MLflow sink).
    clock
        Unix time in seconds (tests pass a fake one).
    converter
        Turns cumulative points into deltas before they are stored (``None``: batches
        are stored as they come, which suits DELTA points only).
    """

    def __init__(
        self,
        config: EvaluatorConfig,
        *,
        store: Store,
        references: ReferenceSet,
        policy: DriftPolicy,
        metrics: DerivedMetrics | None = None,
        alerts: AlertSink | None = None,
        sinks: Sequence[WindowSink] = (),
        clock: Callable[[], float] = time.time,
        converter: CumulativeToDelta | None = None,
    ) -> None:
        self.config = config
        self.converter = converter
        self.store = store
        self.references = references
        self.policy = policy
        self.metrics = metrics
        self.alerts = alerts
        self.sinks = tuple(sinks)
        self.clock = clock
        self._queue: queue.Queue[_Pending] = queue.Queue(maxsize=config.ingest.queue_size)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._tick_lock = threading.Lock()
        self.points_received = 0
        self.points_rejected: dict[str, float] = {}
        self.batches: dict[str, float] = {}
        self.last_evaluation_seconds = 0.0
        self.internal_errors = 0
        #: Why the last store write failed ("" once a write succeeds again): /healthz
        #: reports the evaluator degraded while writes fail (a full disk, a locked file).
        self.store_error = ""
        self.windows_quarantined = 0  # since start; the store keeps the set aside windows
        #: The change detectors on the joined error stream (None: off).
        self.error_streams: ErrorStreams | None = None
        self.change_detectors = config.change_detection.names
        if self.change_detectors:
            store.labels.error_queue = store.changes
            self.error_streams = ErrorStreams(config.change_detection, store.changes)
        if metrics is not None:
            for data in store.latest_reports():
                metrics.update(ModelReport.from_dict(json.loads(data)))
            if self.error_streams is not None:
                meter = metrics.provider.get_meter(sc.EVALUATOR_SCOPE_NAME, __version__)
                meter.create_observable_counter(
                    sc.METRIC_PERFORMANCE_CHANGES,
                    callbacks=[self._change_counts],
                    unit="{change}",
                    description="Changes of the per-prediction error found by the change "
                    "detectors, by detector and direction (up: the model got worse)",
                )

    # ---- ingest -----------------------------------------------------------------------
    def _count(self, outcome: str, n: float = 1.0) -> None:
        with self._lock:
            self.batches[outcome] = self.batches.get(outcome, 0.0) + n

    def submit(self, batch: IngestBatch) -> SubmitResult:
        """Queue ``batch`` and wait until it is durable (see the module docstring)."""
        ing = self.config.ingest
        if self._stop.is_set():
            return SubmitResult.overloaded(ing.retry_after, "shutting down")
        item = _Pending(batch)
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._count("throttled")
            return SubmitResult.overloaded(ing.retry_after, "ingest queue full")
        if not item.done.wait(ing.submit_timeout):
            self._count("timeout")
            # It may still commit; the client's retry is then recognised as a duplicate.
            return SubmitResult.overloaded(ing.retry_after, "store too slow")
        assert item.result is not None
        return item.result

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    def _writer(self) -> None:
        max_n = self.config.ingest.max_batch_commit
        while not self._stop.is_set() or not self._queue.empty():
            try:
                first = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            group = [first]
            while len(group) < max_n:
                try:
                    group.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._write_group(group)

    def _write_group(self, group: list[_Pending]) -> None:
        conv = self.converter
        pending: dict[tuple[object, ...], HistogramPoint | CounterPoint] = {}
        try:
            if conv is None:
                batches = [p.batch for p in group]
            else:  # in queue order: each batch continues the streams the one before left
                batches = [conv.convert_batch(p.batch, pending) for p in group]
            outcomes = self.store.write(batches, now=self.clock())
        except (OtelMlError, ValueError, KeyError, TypeError):
            if len(group) > 1:  # find the batch the store refuses; keep the others
                for p in group:
                    self._write_group([p])
                return
            p = group[0]
            _log.warning(
                "batch %s refused by the store; its points are counted as rejected",
                p.batch.batch_id[:12],
                exc_info=True,
            )
            self._record(p.batch, duplicate=False, refused=True)
            # retrying could never succeed: accepted, every record reported as rejected
            self._finish(
                p, SubmitResult.ok(rejected=(Rejection(R_STORE_REFUSED, p.batch.n_records),))
            )
            return
        except Exception as exc:  # noqa: BLE001 - a store failure must not kill the writer thread
            self.internal_errors += 1
            self.store_error = f"{type(exc).__name__}: {exc}"
            _log.exception("store write failed; clients are asked to retry")
            for p in group:
                self._count("failed")
                self._finish(
                    p, SubmitResult.overloaded(self.config.ingest.retry_after, "store failure")
                )
            return
        if conv is not None:
            conv.commit(pending)
        self.store_error = ""
        for p, b, o in zip(group, batches, outcomes, strict=True):
            self._record(b, duplicate=o.duplicate, refused=False, rejected=o.rejected)
            self._finish(p, SubmitResult.ok(rejected=o.rejected, ignored=o.ignored))

    def _record(
        self,
        batch: IngestBatch,
        *,
        duplicate: bool,
        refused: bool,
        rejected: tuple[Rejection, ...] = (),
    ) -> None:
        with self._lock:
            outcome = "duplicate" if duplicate else "refused" if refused else "stored"
            self.batches[outcome] = self.batches.get(outcome, 0.0) + 1
            if duplicate:
                return
            if refused:
                self.points_rejected[R_STORE_REFUSED] = (
                    self.points_rejected.get(R_STORE_REFUSED, 0.0) + batch.n_records
                )
            else:
                self.points_received += batch.n_records - sum(r.count for r in rejected)
            counts = [*batch.rejection_counts().items(), *((r.reason, r.count) for r in rejected)]
            for reason, n in counts:
                self.points_rejected[reason] = self.points_rejected.get(reason, 0.0) + n

    @staticmethod
    def _finish(p: _Pending, result: SubmitResult) -> None:
        p.result = result
        p.done.set()

    # ---- windows ----------------------------------------------------------------------
    def tick(self, now: float | None = None) -> list[ModelReport]:
        """Evaluate every closed window with new data; returns the new reports."""
        now = self.clock() if now is None else now
        w = self.store.windowing
        reports = []
        with self._tick_lock:
            t0 = time.perf_counter()
            found = self._detect_changes(now)
            for key in self.store.dirty_windows(closed_before=w.closed_before(now)):
                try:
                    report = self._evaluate(key, now)
                except sqlite3.Error:
                    raise  # the store failed, not the window: the next tick tries again
                except Exception as exc:  # noqa: BLE001 - one window never blocks the others
                    self._quarantine(key, exc, now)
                    continue
                reports.append(report)
            fired = self._alert(reports, now, self._change_alerts(found))
            self._sink(reports, fired, now)
            self.last_evaluation_seconds = time.perf_counter() - t0
        return reports

    def _detect_changes(self, now: float) -> list[FoundChange]:
        """Feed the errors joined since the last tick to the change detectors."""
        if self.error_streams is None:
            return []
        failed = self.error_streams.failed
        found = self.error_streams.run(now)
        if self.error_streams.failed != failed:  # logged there; one count per failed batch
            self.internal_errors += 1
        for f in found:
            c = f.change
            _log.info(
                "%s/%s: %s found a change %s of the error at the prediction of %s "
                "(estimated start %s; mean %.4g -> %.4g)",
                f.model, f.version, c.detector, c.direction, c.time, c.start_time,
                c.mean_before, c.mean_after,
            )
        return found

    def _change_alerts(self, found: list[FoundChange]) -> list[Observation]:
        """Observations of the changes just found, for the window of the prediction at
        which each was found: sent now, before that window closes."""
        out = []
        w = self.store.windowing
        for f in found:
            start = w.start_of(f.change.time if f.change.time is not None else 0.0)
            template = Observation(
                model=f.model,
                version=f.version or None,
                kind=ObservationKind.PERFORMANCE_CHANGE,
                value=0.0,
                window_start=start,
                window_end=w.end_of(start),
                n_rows=0,
            )
            out += change_observations(template, (f.change.detector,), (f,), 0)
        return out

    def _change_counts(self, options: CallbackOptions) -> list[MetricObservation]:
        return [
            MetricObservation(
                n,
                {
                    sc.ML_MODEL_NAME: m,
                    sc.ML_MODEL_VERSION: v,
                    sc.ML_CHANGE_DETECTOR: d,
                    sc.ML_CHANGE_DIRECTION: x,
                },
            )
            for m, v, d, x, n in self.store.changes.counts()
        ]

    def _evaluate(self, key: WindowKey, now: float) -> ModelReport:
        window = self.store.load_window(key)
        if self.change_detectors:
            window = dataclasses.replace(window, change_detectors=self.change_detectors)
        ref = self.references.get(key.model, key.version)
        report = evaluate(window, ref, self.policy, min_rows=self.config.windows.min_rows)
        self.store.save_report(key, json.dumps(report.to_dict()), now=now)
        if self.metrics is not None:
            self.metrics.update(report)
        return report

    def _quarantine(self, key: WindowKey, exc: Exception, now: float) -> None:
        """Set aside a window whose evaluation failed: logged and counted once, never retried."""
        reason = f"{type(exc).__name__}: {exc}"
        with self._lock:
            self.windows_quarantined += 1
        _log.error(
            "window %s/%s at %s cannot be evaluated; quarantined (%s)",
            key.model,
            key.version,
            key.start,
            reason,
            exc_info=exc,
        )
        self.store.quarantine(key, reason, now=now)

    def _alert(
        self, reports: list[ModelReport], now: float, extra: list[Observation] | None = None
    ) -> Sequence[AlertTransition]:
        if self.alerts is None:
            return ()  # nothing judges them: not even built
        observations = [*(extra or ()), *(o for r in reports for o in r.observations())]
        if not observations:
            return ()
        try:
            out = self.alerts(observations, now)
        except Exception:  # noqa: BLE001 - alerting must not stop evaluation; counted
            self.internal_errors += 1
            _log.exception("alert engine failed on %d observations", len(observations))
            return ()
        if not isinstance(out, list | tuple):
            return ()
        return [t for t in out if isinstance(t, AlertTransition)]

    def _sink(
        self, reports: list[ModelReport], fired: Sequence[AlertTransition], now: float
    ) -> None:
        if not reports:
            return
        for sink in self.sinks:
            try:
                sink.submit(reports, fired, now)
            except Exception:  # noqa: BLE001 - a sink must not stop evaluation; counted
                self.internal_errors += 1
                _log.exception("window sink %s failed on %d reports",
                               type(sink).__name__, len(reports))

    def housekeep(self, now: float | None = None) -> None:
        now = self.clock() if now is None else now
        self.store.housekeep(now, retention=self.config.windows.retention)
        if self.metrics is not None:
            self.metrics.prune(now - self.config.windows.retention)

    def window_lag(self, now: float | None = None) -> float:
        """Seconds the oldest closed, not yet evaluated window has been waiting."""
        now = self.clock() if now is None else now
        oldest = self.store.oldest_dirty_start()
        if oldest is None:
            return 0.0
        w = self.store.windowing
        return max(0.0, now - (oldest + w.size + w.grace))

    def health(self) -> HealthSnapshot:
        stats = self.store.stats()
        with self._lock:
            return HealthSnapshot(
                points_received=float(self.points_received),
                points_rejected=dict(self.points_rejected),
                batches=dict(self.batches),
                queue_depth=self.queue_depth,
                window_lag=self.window_lag(),
                pending_predictions=stats.pending_predictions,
                pending_labels_unknown_model=stats.pending_outcomes_unknown_model,
                evicted_labels_unknown_model=stats.evicted_outcomes_unknown_model,
                predictions_dropped=stats.dropped_predictions,
                labels_of_dropped_predictions=stats.labels_of_dropped_predictions,
                evaluation_seconds=self.last_evaluation_seconds,
                store_error=self.store_error,
                windows_quarantined=self.store.count_quarantined(),
                reference_poll_failures=self.references.poll_failures,
            )

    # ---- lifecycle --------------------------------------------------------------------
    def start(self, *, tick_interval: float | None = None) -> None:
        """Start the writer thread and the window loop."""
        interval = tick_interval or min(5.0, max(self.config.windows.size / 20, 0.5))
        self._stop.clear()
        writer = threading.Thread(target=self._writer, name="otel-ml-writer", daemon=True)
        loop = threading.Thread(
            target=self._loop, args=(interval,), name="otel-ml-windows", daemon=True
        )
        self._threads = [writer, loop]
        writer.start()
        loop.start()

    def start_writer(self) -> None:
        """Start only the writer (tests drive :meth:`tick` themselves)."""
        self._stop.clear()
        t = threading.Thread(target=self._writer, name="otel-ml-writer", daemon=True)
        self._threads = [t]
        t.start()

    def _loop(self, interval: float) -> None:
        last_housekeep = 0.0
        while not self._stop.wait(interval):
            try:
                self.tick()
                if time.monotonic() - last_housekeep > 300:
                    self.housekeep()
                    last_housekeep = time.monotonic()
            except Exception:  # noqa: BLE001 - the loop must survive; counted and logged
                self.internal_errors += 1
                _log.exception("window evaluation failed")

    def stop(self) -> None:
        """Stop accepting, drain the queue into the store, stop the threads."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout=30)
        self._threads = []
