"""The evaluator's options: typed, frozen, with the defaults a YAML file may leave out.

:func:`otel_ml.evaluator._config.parse_config` builds them (checking every key);
services take the pieces they need.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path

from otel_ml._config import TlsOptions
from otel_ml.alerting import AlertingConfig, RetryPolicy
from otel_ml.evaluator._auth import BearerAuth
from otel_ml.evaluator._change_detection import ChangeOptions
from otel_ml.stats import DriftPolicy

__all__ = [
    "ApiOptions",
    "EvaluatorConfig",
    "ExportOptions",
    "IngestOptions",
    "LabelOptions",
    "LimitOptions",
    "ListenOptions",
    "MlflowSinkOptions",
    "ReceiverOptions",
    "ReferenceSpec",
    "SinkOptions",
    "WindowOptions",
]


@dataclass(frozen=True)
class ListenOptions:
    """Where a server listens. ``port: 0`` picks a free port; ``enabled: false`` turns it off.

    At most ``max_connections`` connections at once; a connection waiting for a request
    is closed after ``idle_timeout`` seconds, one whose request has not fully arrived
    ``read_timeout`` seconds after its first line (gRPC: its handshake) too.
    """

    host: str = "127.0.0.1"
    port: int = 0
    enabled: bool = True
    max_connections: int = 256
    idle_timeout: float = 30.0
    read_timeout: float = 30.0


@dataclass(frozen=True)
class ReceiverOptions:
    http: ListenOptions = ListenOptions(port=4318)
    grpc: ListenOptions = ListenOptions(port=4317)
    max_body_bytes: int = 16 * 1024 * 1024


@dataclass(frozen=True)
class WindowOptions:
    """Tumbling windows: ``size`` seconds (1 min .. 1 day), closed ``grace`` seconds after
    their end; no drift verdict below ``min_rows`` rows; kept ``retention`` seconds."""

    size: float = 300.0
    grace: float = 30.0
    min_rows: int = 100
    retention: float = 7 * 86400.0


@dataclass(frozen=True)
class LabelOptions:
    """Pending predictions / outcomes wait ``ttl`` seconds for their partner; at most
    ``max_pending`` predictions, ``max_pending`` outcomes per model and
    ``max_pending_unknown`` outcomes of models not seen otherwise are kept (oldest
    evicted first, and counted)."""

    ttl: float = 7 * 86400.0
    max_pending: int = 1_000_000
    max_pending_unknown: int = 100_000


@dataclass(frozen=True)
class IngestOptions:
    """``queue_size`` batches wait for the writer at most; beyond that the receivers answer
    429/503 with ``Retry-After: retry_after``."""

    queue_size: int = 64
    retry_after: float = 2.0
    submit_timeout: float = 10.0
    max_batch_commit: int = 32


@dataclass(frozen=True)
class LimitOptions:
    """Bounds on what clients can make the evaluator hold; records beyond them are rejected
    with a reason (OTLP partial success) and counted.

    ``models``: distinct model names with stored windows; ``features_per_model``:
    distinct features and prediction outputs of one model version in one window;
    ``categories_per_feature``: distinct keys of one keyed counter (a feature's
    categories, predicted classes, error types, quality issues) in one window.
    ``max_past`` / ``max_future``: accepted timestamps around the evaluator's clock.
    """

    models: int = 1000
    features_per_model: int = 1000
    categories_per_feature: int = 1000
    max_past: float = 86400.0
    max_future: float = 600.0


@dataclass(frozen=True)
class ApiOptions(ListenOptions):
    port: int = 8080
    max_connections: int = 64  # a flooded API leaves file descriptors to the receivers


@dataclass(frozen=True)
class ExportOptions:
    """Derived metrics out: OTLP (``otlp_endpoint`` set) and the API's ``/metrics``."""

    otlp_endpoint: str | None = None
    otlp_protocol: str = "http"
    otlp_interval: float = 60.0
    prometheus: bool = True


@dataclass(frozen=True)
class ReferenceSpec:
    """A reference profile for ``model`` (``version`` None = any version): a file (``path``)
    or an MLflow URI (``uri``: ``models:/...``, ``runs:/...``). An alias URI
    (``models:/m@champion``) is checked for a move every ``poll_interval`` seconds on
    ``tracking_uri`` (default: ``MLFLOW_TRACKING_URI``)."""

    model: str
    path: Path | None = None
    version: str | None = None
    uri: str | None = None
    poll_interval: float = 60.0
    tracking_uri: str | None = None

    @property
    def source(self) -> str:
        """The file or URI, for messages."""
        return self.uri if self.uri is not None else str(self.path)


@dataclass(frozen=True)
class MlflowSinkOptions:
    """``sinks.mlflow``: each evaluated window's metrics to an MLflow run per model version
    (models matching one of the globs ``models``), in ``experiment`` at ``tracking_uri``.

    Each MLflow request waits at most ``timeout`` seconds; a failed window is retried with
    ``retry`` (backoff + jitter, given up after ``retry.max_age``); at most ``max_backlog``
    windows wait, the oldest dropped beyond (counted).
    """

    tracking_uri: str
    experiment: str = "otel-ml"
    models: tuple[str, ...] = ("*",)
    timeout: float = 10.0
    max_backlog: int = 10_000
    retry: RetryPolicy = RetryPolicy(max_age=7 * 86400.0)

    def matches(self, model: str) -> bool:
        """Whether ``model``'s windows are logged."""
        return any(fnmatch.fnmatchcase(model, pattern) for pattern in self.models)


@dataclass(frozen=True)
class SinkOptions:
    """Where evaluated windows are logged besides the store (``sinks:``; None: nowhere)."""

    mlflow: MlflowSinkOptions | None = None


@dataclass(frozen=True)
class EvaluatorConfig:
    """The whole evaluator configuration, parsed: every section typed, secrets read.

    ``auth`` is the bearer-token check (None: no authentication), ``tls`` the server
    certificate (None: plain text), ``drift`` the drift policy, ``alerting`` the
    alert rules and notifiers (None when the file has neither ``alerts:`` nor
    ``notifiers:``: no alert engine runs), ``change_detection`` the detectors run on
    the joined error stream.
    """

    state_dir: Path = Path("evaluator-state")
    receivers: ReceiverOptions = ReceiverOptions()
    api: ApiOptions = ApiOptions()
    auth: BearerAuth | None = None
    tls: TlsOptions | None = None
    windows: WindowOptions = WindowOptions()
    labels: LabelOptions = LabelOptions()
    ingest: IngestOptions = IngestOptions()
    limits: LimitOptions = LimitOptions()
    export: ExportOptions = ExportOptions()
    references: tuple[ReferenceSpec, ...] = ()
    drift: DriftPolicy = field(default_factory=DriftPolicy)
    alerting: AlertingConfig | None = None
    change_detection: ChangeOptions = ChangeOptions()
    sinks: SinkOptions = SinkOptions()
