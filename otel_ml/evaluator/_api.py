"""The evaluator's HTTP API, for people and scripts.

=================================  ==============================================
``GET /api/models``                models in name order, one page at a time
                                   (``?limit=100&after=<name>``; the answer's ``next``
                                   is the next page's ``after``, ``total`` the count):
                                   versions, latest window, drifted features, firing
                                   alerts (JSON)
``GET /api/models/{name}/report``  the latest report of ``name`` (features, drift,
                                   quality, performance, operations), its recent
                                   history and its alerts (JSON)
``GET /models/{name}``             the same as an HTML page with SVG plots
``GET /metrics``                   the derived metrics, Prometheus text format
``GET /healthz``                   liveness and ingest health (JSON; never
                                   behind auth)
=================================  ==============================================

With a bearer token configured every path but ``/healthz`` needs
``Authorization: Bearer <token>`` (401 otherwise). Listens on 127.0.0.1 unless
configured otherwise; TLS with the receivers' ``TlsOptions``. Connections are capped
and timed out like the receivers' (:class:`~otel_ml.evaluator._http_serving.ConnectionLimits`; 64
connections by default, so that a flood of the API leaves file descriptors and threads
to the receivers).
"""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, quote, unquote

from opentelemetry.metrics import Meter

from otel_ml.evaluator._auth import BearerAuth
from otel_ml.evaluator._html import model_page
from otel_ml.evaluator._http_serving import (
    BackgroundHttpServer,
    ConnectionLimits,
    LimitedHttpServer,
    TimedHandler,
)
from otel_ml.evaluator._report import ModelReport
from otel_ml.evaluator._service import EvaluatorService
from otel_ml.evaluator._windows import WindowKey

__all__ = ["API_LIMITS", "ApiServer"]

_log = logging.getLogger(__name__)

AlertLookup = Callable[[str], Sequence[Mapping[str, Any]]]
_JSON = "application/json"
_HISTORY = 48
#: Models per page of ``/api/models`` (``?limit=``: 1 .. MAX_PAGE).
DEFAULT_PAGE = 100
MAX_PAGE = 1000
#: The API's connection limits unless configured: fewer connections than a receiver.
API_LIMITS = ConnectionLimits(max_connections=64)


class _Handler(TimedHandler):
    server: _Server

    def _send(self, code: int, body: bytes, ctype: str, extra: Mapping[str, str] = {}) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, code: int, obj: object) -> None:
        self._send(code, json.dumps(obj, allow_nan=False).encode(), _JSON)

    def do_GET(self) -> None:
        self.serving()
        api = self.server.api
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        try:
            if path == "/healthz":
                self._json(200, api.health())
                return
            if api.auth is not None and not api.auth.check(self.headers.get("Authorization")):
                self._send(
                    401,
                    b'{"error": "bearer token required"}',
                    _JSON,
                    {"WWW-Authenticate": 'Bearer realm="otel-ml"'},
                )
                return
            parts = [unquote(p) for p in path.strip("/").split("/")]
            if path == "/metrics":
                self._send(200, api.service_metrics(), "text/plain; version=0.0.4; charset=utf-8")
            elif parts == ["api", "models"]:
                query = parse_qs(self.path.partition("?")[2])
                try:
                    limit = _page_size(query.get("limit", [str(DEFAULT_PAGE)])[-1])
                except ValueError as exc:
                    self._json(400, {"error": str(exc)})
                    return
                self._json(200, api.models(limit=limit, after=query.get("after", [""])[-1]))
            elif len(parts) == 4 and parts[:2] == ["api", "models"] and parts[3] == "report":
                found = api.report(parts[2])
                self._json(
                    200 if found is not None else 404,
                    found if found is not None else {"error": f"no model {parts[2]!r}"},
                )
            elif len(parts) == 2 and parts[0] == "models":
                html = api.html(parts[1])
                if html is None:
                    self._send(404, b"no such model", "text/plain; charset=utf-8")
                else:
                    self._send(200, html.encode(), "text/html; charset=utf-8")
            else:
                self._json(404, {"error": "not found"})
        except Exception:  # noqa: BLE001 - one bad request must not stop the API; logged
            _log.exception("API request %s failed", path)
            self._json(500, {"error": "internal error"})

    do_HEAD = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("api: " + format, *args)


class _Server(LimitedHttpServer):
    def __init__(self, addr: tuple[str, int], api: ApiServer, limits: ConnectionLimits,
                 meter: Meter | None) -> None:
        self.api = api
        super().__init__(addr, _Handler, limits, listener="api", ssl_context=api.ssl_context,
                         meter=meter)


class ApiServer(BackgroundHttpServer):
    """Serves the API of one :class:`EvaluatorService`.

    Parameters
    ----------
    service
        The running service (its store holds the reports).
    alerts
        ``alerts(model) -> [alert dicts]`` for the report's ``alerts`` field.
    limits
        Connection cap, idle and read timeouts (:data:`API_LIMITS` by default).
    meter
        For ``otel_ml.evaluator.connections.closed`` (none when omitted).
    """

    def __init__(
        self,
        service: EvaluatorService,
        host: str = "127.0.0.1",
        port: int = 8080,
        *,
        auth: BearerAuth | None = None,
        ssl_context: ssl.SSLContext | None = None,
        alerts: AlertLookup | None = None,
        limits: ConnectionLimits = API_LIMITS,
        meter: Meter | None = None,
    ) -> None:
        self.service = service
        self.auth = auth
        self.ssl_context = ssl_context
        self._alerts = alerts
        super().__init__(
            _Server((host, port), self, limits, meter),
            host,
            secure=ssl_context is not None,
            thread_name="otel-ml-api",
            poll_interval=0.2,
        )

    # ---- content ----------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        h = self.service.health()
        return {
            "status": "degraded" if h.store_error else "ok",
            "store_error": h.store_error,
            "points_received": h.points_received,
            "points_rejected": dict(h.points_rejected),
            "batches": dict(h.batches),
            "queue_depth": h.queue_depth,
            "window_lag_seconds": h.window_lag,
            "pending_predictions": h.pending_predictions,
            "windows_quarantined": h.windows_quarantined,
            "quarantined": [
                _quarantined(key, reason) for key, reason in self.service.store.quarantined()
            ],
            "labels_unknown_model": {
                "pending": h.pending_labels_unknown_model,
                "evicted": h.evicted_labels_unknown_model,
            },
            "dropped_by_sdk": {
                "predictions": h.predictions_dropped,
                "labels": h.labels_of_dropped_predictions,
            },
        }

    def service_metrics(self) -> bytes:
        m = self.service.metrics
        return m.prometheus_text() if m is not None else b""

    def _alerts_of(self, model: str) -> list[dict[str, Any]]:
        if self._alerts is None:
            return []
        try:
            return [dict(a) for a in self._alerts(model)]
        except Exception:  # noqa: BLE001 - the report still shows without alerts; logged
            _log.exception("alert lookup failed for %s", model)
            return []

    def _reports(self, model: str) -> list[ModelReport]:
        return [
            ModelReport.from_dict(json.loads(d))
            for _, d in self.service.store.reports(model, limit=_HISTORY)
        ]

    def models(self, *, limit: int = DEFAULT_PAGE, after: str = "") -> dict[str, Any]:
        """One page of models in name order: ``limit`` names after the name ``after``;
        ``next`` is the ``after`` of the next page (``None`` on the last one)."""
        store = self.service.store
        page = store.model_page(after=after, limit=limit + 1)
        more = len(page) > limit
        page = page[:limit]
        out = []
        for name, versions in page:
            latest = [
                ModelReport.from_dict(json.loads(d)) for _, d in store.reports(name, limit=1)
            ]
            r = latest[0] if latest else None
            out.append(
                {
                    "name": name,
                    "versions": versions,
                    "latest_window": None
                    if r is None
                    else {"start": r.window_start, "end": r.window_end, "version": r.version},
                    "drifted_features": [] if r is None else list(r.drifted_features),
                    "minor_features": [] if r is None else list(r.minor_features),
                    "alerts_firing": len(self._alerts_of(name)),
                    # quoted whole: a name may hold "/", "?" or "#"
                    "report": f"/api/models/{quote(name, safe='')}/report",
                    "page": f"/models/{quote(name, safe='')}",
                }
            )
        return {
            "models": out,
            "total": store.count_models(),
            "next": page[-1][0] if more else None,
        }

    def report(self, model: str) -> dict[str, Any] | None:
        reports = self._reports(model)
        if not reports:
            return None
        latest = reports[0]
        body = latest.to_dict()
        body["alerts"] = self._alerts_of(model)
        body["quarantined"] = [
            _quarantined(k, why) for k, why in self.service.store.quarantined(model)
        ]
        # found the moment their evidence was joined, also in windows not yet evaluated
        body["recent_changes"] = [
            c.to_dict() for c in self.service.store.changes.recent(model, limit=_HISTORY)
        ]
        body["history"] = [
            {
                "version": r.version,
                "window_start": r.window_start,
                "window_end": r.window_end,
                "n_rows": r.n_rows,
                "drifted_features": list(r.drifted_features),
                "minor_features": list(r.minor_features),
                "performance": None
                if r.performance is None
                else {k: v for k, v in r.to_dict()["performance"]["metrics"].items()},
                "label_coverage": None if r.performance is None else r.performance.coverage,
                "estimated_performance": None
                if r.estimated is None
                else r.estimated.to_dict(),
                "latency_p95": r.operations.latency_p95,
                "error_rate": r.operations.error_rate,
            }
            for r in reports
        ]
        return body

    def html(self, model: str) -> str | None:
        reports = self._reports(model)
        if not reports:
            return None
        latest = reports[0]
        window = self.service.store.load_window(
            WindowKey(latest.model, latest.version, latest.window_start, latest.window_end)
        )
        ref = self.service.references.get(latest.model, latest.version)
        quarantined = [
            (k.start, k.end, k.version, why) for k, why in self.service.store.quarantined(model)
        ]
        return model_page(
            reports, window, ref, self._alerts_of(model), self.service.policy,
            quarantined=quarantined,
            changes=self.service.store.changes.recent(model, limit=_HISTORY),
        )


def _quarantined(key: WindowKey, reason: str) -> dict[str, Any]:
    return {
        "model": key.model,
        "version": key.version,
        "window_start": key.start,
        "window_end": key.end,
        "reason": reason,
    }


def _page_size(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 1 <= n <= MAX_PAGE:
        raise ValueError(f"limit must be an integer in [1, {MAX_PAGE}], got {text[:20]!r}")
    return n
