"""Reading an external evaluator's findings back through its HTTP API (``--evaluator-api``).

With ``--evaluator-endpoint`` the demo only sends; the evaluator judges on its own
clock (every window of the run is already closed on it, see
:mod:`otel_ml.demo._run`). ``GET /api/models/{model}/report`` gives its window
history (drifted features, performance, label coverage) and the alerts firing now;
the demo waits until every window of the run has been evaluated with its labels.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from otel_ml._errors import ConfigurationError

__all__ = ["ExternalFindings", "check_api_url", "check_endpoint", "fetch_findings"]


@dataclass(frozen=True)
class ExternalFindings:
    """The evaluator's window history (by window start) and its firing alerts (JSON)."""

    history: dict[float, dict[str, Any]]
    alerts: tuple[dict[str, Any], ...]


def _get(url: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            body: dict[str, Any] = json.loads(resp.read())
            return body
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None  # nothing evaluated for the model yet
        raise


def check_endpoint(endpoint: str) -> None:
    """Fail fast (:class:`ConfigurationError`) when nothing listens at the OTLP endpoint:
    otherwise every export would retry for seconds before giving up."""
    parts = urllib.parse.urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"--evaluator-endpoint: expected an OTLP/HTTP URL such as http://127.0.0.1:4318, "
            f"got {endpoint!r}"
        )
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=5).close()
    except OSError as exc:
        raise ConfigurationError(
            f"--evaluator-endpoint {endpoint}: cannot connect ({exc.strerror or exc}); start "
            "the evaluator first, e.g. otel-ml evaluator --config otel-ml-demo/evaluator.yaml"
        ) from exc


def check_api_url(api_url: str) -> str:
    """The API base URL, or a :class:`ConfigurationError` naming the option."""
    if not api_url.startswith(("http://", "https://")):
        raise ConfigurationError(
            f"--evaluator-api: expected the evaluator's API URL such as "
            f"http://127.0.0.1:8080, got {api_url!r}"
        )
    return api_url.rstrip("/")


def fetch_findings(
    api_url: str,
    model: str,
    starts: list[float],
    *,
    min_coverage: float,
    timeout: float = 60.0,
    poll: float = 0.5,
) -> ExternalFindings:
    """Poll the API until every window in ``starts`` has been evaluated with at least
    ``min_coverage`` of its predictions labelled and two polls in a row agree (the
    evaluator has caught up with the late labels), or ``timeout`` seconds passed."""
    url = f"{check_api_url(api_url)}/api/models/{model}/report"
    deadline = time.monotonic() + timeout
    body: dict[str, Any] | None = None
    previous: dict[float, dict[str, Any]] | None = None
    while True:
        try:
            body = _get(url)
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"--evaluator-api: cannot read {url}: {exc}") from exc
        history = {float(h["window_start"]): h for h in (body or {}).get("history", [])}
        ready = all(_covered(history.get(s), min_coverage) for s in starts)
        if (ready and history == previous) or time.monotonic() > deadline:
            break
        previous = history
        time.sleep(poll)
    return ExternalFindings(history, tuple((body or {}).get("alerts", [])))


def _covered(entry: dict[str, Any] | None, least: float) -> bool:
    """Whether a window's evaluation includes (most of) its labels."""
    cov = None if entry is None else entry.get("label_coverage")
    return cov is not None and cov >= least
