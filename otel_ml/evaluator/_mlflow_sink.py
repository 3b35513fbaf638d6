"""The MLflow sink: each evaluated window's metrics, logged to an MLflow run per model version.

::

    tick (window thread) ──submit(reports, alerts)──► outbox (SQLite, one row per window)
                                                          │ worker thread ``otel-ml-sink-mlflow``
                                                          ▼ (alerting's OutboxDispatcher: oldest
    MLflow tracking server ◄── MlflowClient.log_batch ◄───  window of each model version first,
                               (≤ 1,000 metrics a call)     backoff + jitter, max_age)

The evaluation thread only writes one row per window to a local SQLite outbox
(``<state_dir>/sinks/outbox.sqlite3``, the schema and delivery worker of the alert
notifications): MLflow being slow or down never stalls evaluation. The backlog is
bounded by ``max_backlog`` windows (the oldest go first) and survives restarts. Each
queueing also records the evaluation time of its windows; at start, :meth:`MlflowSink.catch_up`
queues the reports the store saved after it (the evaluator died between the two commits).

A window's metrics (:func:`~otel_ml.evaluator._window_metrics.window_metrics`) are
logged with ``timestamp`` = the window's end (milliseconds) and ``step`` = the window's
end in Unix seconds, which grows with every window whatever the window size.

Runs are found, not remembered: the run of a model version is the oldest active run
of the experiment tagged ``otel_ml.sink.key`` = a hash of (model, version) (also tagged
``ml.model.name`` and ``ml.model.version`` for people); it is created when there is
none. After a restart, or with a lost state directory, the same search finds it again.

Delivery is at least once: a window is removed from the outbox only after every
``log_batch`` call of it succeeded. A retry after a partial failure sends the whole
window again, with the same keys, values, timestamps and steps; MLflow's SQL tracking
store (any ``mlflow server`` with a database backend) keeps one row per (key, value,
timestamp, step) and skips the ones it already has, so nothing is duplicated there. A
file-store backend (``mlflow server`` without ``--backend-store-uri``, or a
``file:`` tracking URI) appends and would show such points twice.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation, get_meter_provider

from otel_ml import semconv as sc
from otel_ml._errors import ConfigurationError
from otel_ml._version import __version__
from otel_ml.alerting import AlertTransition, DeliveryError
from otel_ml.alerting._delivery import Channel, OutboxDispatcher
from otel_ml.alerting._store import AlertStore
from otel_ml.evaluator._config_options import MlflowSinkOptions
from otel_ml.evaluator._report import ModelReport
from otel_ml.evaluator._window_metrics import window_metrics
from otel_ml.mlflow import redact_credentials

__all__ = ["OUTBOX_FILE", "SINK_NAME", "TAG_RUN_KEY", "MlflowSink", "run_key"]

_log = logging.getLogger(__name__)

SINK_NAME = "mlflow"
OUTBOX_FILE = Path("sinks") / "outbox.sqlite3"
#: The tag a model version's run is found by.
TAG_RUN_KEY = "otel_ml.sink.key"
#: Outbox meta key: the evaluation time (``now`` of a tick) of the last windows queued.
_MARK = "mlflow.queued_until"
#: MLflow's limit on metrics per ``log_batch`` call (``MAX_METRICS_PER_BATCH``).
MAX_METRICS_PER_BATCH = 1000
#: MLflow error codes that say the request itself is wrong: no retry helps.
_FINAL_CODES = frozenset({"INVALID_PARAMETER_VALUE", "BAD_REQUEST", "INVALID_STATE"})


def run_key(model: str, version: str) -> str:
    """The value of :data:`TAG_RUN_KEY` for a model version (safe inside a search filter).

    >>> run_key("credit", "3")
    'bfd5a58426685a7fcdc28bfce6ad9d47'
    """
    return hashlib.sha256(f"{model}\x00{version}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class _Window:
    """One outbox payload: a window's metrics for one model version."""

    model: str
    version: str
    start: float
    end: float
    metrics: dict[str, float]

    def to_json(self) -> str:
        return json.dumps(
            {"model": self.model, "version": self.version, "start": self.start,
             "end": self.end, "metrics": self.metrics},
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> _Window:
        d = json.loads(text)
        return cls(d["model"], d["version"], float(d["start"]), float(d["end"]),
                   {str(k): float(v) for k, v in d["metrics"].items()})


class MlflowSink:
    """Queues each evaluated window and logs it to MLflow from a worker thread.

    Parameters
    ----------
    options
        ``sinks.mlflow`` of the configuration.
    state_dir
        Where the outbox lives (``None``: in memory, tests only).
    meter_provider
        Where the self-metrics go (the evaluator's, so they show on ``/metrics``).
    clock
        Current time, Unix seconds (the outbox's due times).
    client
        Builds the MLflow client (default: ``MlflowClient(options.tracking_uri)``).
    rng, poll_interval
        Jitter source; longest the worker sleeps between looks at the outbox.
    """

    def __init__(
        self,
        options: MlflowSinkOptions,
        *,
        state_dir: Path | None,
        meter_provider: MeterProvider | None = None,
        clock: Callable[[], float] = time.time,
        client: Callable[[], Any] | None = None,
        rng: random.Random | None = None,
        poll_interval: float = 5.0,
    ) -> None:
        if client is None and importlib.util.find_spec("mlflow") is None:
            raise ConfigurationError(
                "sinks.mlflow: the mlflow package is not installed; "
                "pip install 'otel-ml[mlflow]' or remove sinks.mlflow"
            )
        self.options = options
        self._clock = clock
        self._make_client = client or self._default_client
        self._client: Any = None
        self._runs: dict[tuple[str, str], str] = {}
        self._experiment_id: str | None = None
        self._lock = threading.Lock()
        path: str | Path = ":memory:" if state_dir is None else state_dir / OUTBOX_FILE
        self._store = AlertStore(path)
        meter = (meter_provider or get_meter_provider()).get_meter(
            sc.EVALUATOR_SCOPE_NAME, __version__
        )
        self._windows = meter.create_counter(
            sc.METRIC_EVAL_SINK_WINDOWS,
            unit="{window}",
            description="Evaluated windows handed to a sink, by sink and outcome "
            "(delivered, retried: an attempt failed, failed: refused, dropped)",
        )
        self._metrics = meter.create_counter(
            sc.METRIC_EVAL_SINK_METRICS,
            unit="{metric}",
            description="Metric values a sink delivered",
        )
        meter.create_observable_gauge(
            sc.METRIC_EVAL_SINK_BACKLOG,
            callbacks=[self._backlog],
            unit="{window}",
            description="Windows waiting for delivery to a sink",
        )
        self._closed = False
        channel = Channel(SINK_NAME, options.retry, self._send, what="window")
        self._dispatcher = OutboxDispatcher(
            self._store,
            [channel],
            count=self._count,
            clock=clock,
            rng=rng,
            poll_interval=poll_interval,
            log_prefix="otel_ml evaluator sink",
            thread_prefix="otel-ml-sink",
        )

    # ---- the evaluation side --------------------------------------------------------
    def submit(
        self, reports: Sequence[ModelReport], alerts: Sequence[AlertTransition] | None,
        now: float,
    ) -> None:
        """Queue the windows of ``reports``, evaluated at ``now`` (one outbox row each, and
        the mark :meth:`catch_up` starts from, in one transaction); never waits for MLflow."""
        rows = [
            (SINK_NAME, f"{r.model}@{r.version}",
             _Window(r.model, r.version, r.window_start, r.window_end,
                     window_metrics(r, alerts)).to_json())
            for r in reports
            if self.options.matches(r.model)
        ]
        with self._store.transaction() as tx:
            tx.enqueue_many(rows, now)
            dropped = tx.trim(SINK_NAME, self.options.max_backlog)
            mark = self._store.meta(_MARK)
            tx.set_meta(_MARK, repr(now if mark is None else max(now, float(mark))))
        if not rows:
            return
        self._count(SINK_NAME, "queued", len(rows))
        if dropped:
            self._count(SINK_NAME, "dropped", dropped)
            _log.warning(
                "otel_ml evaluator sink: %s backlog over %d windows; dropped the %d oldest",
                SINK_NAME, self.options.max_backlog, dropped,
            )
        self._dispatcher.wake()

    def catch_up(self, reports_after: Callable[[float, int], list[str]], now: float) -> int:
        """Queue the windows the store saved after the last ones queued here: a crash
        between the store's commit of a report and :meth:`submit` lost them. Their alert
        counts are not known (no ``alerts/`` keys). On a first start only the mark is set.
        ``reports_after(at, limit)`` is :meth:`Store.reports_saved_after`; returns how
        many windows were queued."""
        mark = self._store.meta(_MARK)
        if mark is None:
            self.submit((), (), now)
            return 0
        found = [ModelReport.from_dict(json.loads(d))
                 for d in reports_after(float(mark), self.options.max_backlog)]
        before = self.backlog()
        self.submit(found, None, max(now, float(mark)))
        queued = self.backlog() - before
        if found:
            _log.warning(
                "otel_ml evaluator sink: %d windows evaluated before the last stop had not "
                "been queued for %s; queued now", len(found), SINK_NAME,
            )
        return max(queued, 0)

    def backlog(self) -> int:
        """Windows waiting for delivery."""
        return self._store.pending(SINK_NAME)

    def deliver_pending(self, now: float | None = None) -> int:
        """Deliver what is due now, on this thread; how many windows were delivered."""
        return self._dispatcher.run_once(now)

    def start(self) -> None:
        """Start the delivery worker."""
        self._dispatcher.start()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the worker; the backlog stays on disk for the next start."""
        self._closed = True
        self._dispatcher.stop(timeout)
        self._store.close()

    def _count(self, _: str, outcome: str, n: int) -> None:
        self._windows.add(n, {sc.SINK: SINK_NAME, sc.OUTCOME: outcome})

    def _backlog(self, _: CallbackOptions) -> list[Observation]:
        if self._closed:
            return []
        return [Observation(self.backlog(), {sc.SINK: SINK_NAME})]

    # ---- the worker side -------------------------------------------------------------
    def _default_client(self) -> Any:
        # MLflow's own HTTP retries would hold the worker for minutes on a down server;
        # the outbox retries instead (persisted, with backoff). The environment wins.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(max(1, int(self.options.timeout))))
        from mlflow.tracking import MlflowClient

        return MlflowClient(tracking_uri=self.options.tracking_uri)

    def _send(self, payload: str, now: float) -> None:
        window = _Window.from_json(payload)
        key = (window.model, window.version)
        with self._lock:
            # the run known before this attempt (found now, it is fresh: see below)
            remembered = key in self._runs
        try:
            self._log(window)
        except DeliveryError:
            raise
        except Exception as exc:  # noqa: BLE001 - classified, counted and logged by the dispatcher
            with self._lock:
                # a run or experiment deleted meanwhile is refused as invalid: found
                # (or created) again at the next attempt, so only a fresh run's refusal is
                # final (retrying it would hold the version's later windows until max_age)
                self._runs.pop(key, None)
                self._experiment_id = None
            code = getattr(exc, "error_code", "")
            raise DeliveryError(
                f"{type(exc).__name__}: {_short(exc)}",
                retryable=remembered or code not in _FINAL_CODES,
            ) from None

    def _log(self, window: _Window) -> None:
        from mlflow.entities import Metric

        with self._lock:
            if self._client is None:
                self._client = self._make_client()
            client = self._client
        run_id = self._run_id(client, window)
        timestamp = int(round(window.end * 1000))
        step = int(window.end)
        metrics = [Metric(k, v, timestamp, step) for k, v in window.metrics.items()]
        for i in range(0, len(metrics), MAX_METRICS_PER_BATCH):
            client.log_batch(run_id, metrics=metrics[i : i + MAX_METRICS_PER_BATCH])
        self._metrics.add(len(metrics), {sc.SINK: SINK_NAME})

    def _run_id(self, client: Any, window: _Window) -> str:
        key = (window.model, window.version)
        with self._lock:
            known = self._runs.get(key)
        if known is not None:
            return known
        experiment_id = self._experiment(client)
        tag = run_key(window.model, window.version)
        found = client.search_runs(
            [experiment_id],
            filter_string=f"tags.`{TAG_RUN_KEY}` = '{tag}'",
            max_results=1,
            order_by=["attributes.start_time ASC"],
        )
        if found:
            run_id = str(found[0].info.run_id)
        else:
            run = client.create_run(
                experiment_id,
                start_time=int(window.start * 1000),
                tags={
                    TAG_RUN_KEY: tag,
                    sc.ML_MODEL_NAME: window.model,
                    sc.ML_MODEL_VERSION: window.version,
                },
                run_name=f"{window.model} {window.version} production"[:250],
            )
            run_id = str(run.info.run_id)
        with self._lock:
            self._runs[key] = run_id
        return run_id

    def _experiment(self, client: Any) -> str:
        with self._lock:
            if self._experiment_id is not None:
                return self._experiment_id
        name = self.options.experiment
        exp = client.get_experiment_by_name(name)
        if exp is None:
            try:
                experiment_id = str(client.create_experiment(name))
            except Exception:  # created meanwhile by someone else: look again (re-raised)
                exp = client.get_experiment_by_name(name)
                if exp is None:
                    raise
                experiment_id = str(exp.experiment_id)
        elif exp.lifecycle_stage != "active":
            raise DeliveryError(
                f"experiment {name!r} is deleted; restore it or set sinks.mlflow.experiment",
                retryable=True,
            )
        else:
            experiment_id = str(exp.experiment_id)
        with self._lock:
            self._experiment_id = experiment_id
        return experiment_id


def _short(exc: BaseException) -> str:
    """The first line of an MLflow error, which can quote a whole HTTP response, without
    the credentials of the URL it names (logged, and kept in the outbox)."""
    text = str(exc).strip().splitlines()
    return redact_credentials(text[0])[:300] if text else ""
