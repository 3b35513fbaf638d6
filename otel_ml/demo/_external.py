"""Reading an external evaluator's findings back through its HTTP API (``--evaluator-api``).

With ``--evaluator-endpoint`` the demo only sends; the evaluator judges on its own
clock (every window of the run is already closed on it, see
:mod:`otel_ml.demo._run`). ``GET /api/models/{model}/report`` gives its window
history (drifted features, performance, label coverage) and the alerts firing now;
the demo waits until every window of the run has been evaluated with its labels.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from otel_ml._errors import ConfigurationError

__all__ = ["ExternalFindings", "fetch_findings"]


@dataclass(frozen=True)
class ExternalFindings:
    """The evaluator's window history (by window start) and its firing alerts (JSON)."""

    history: dict[float, dict[str, Any]]
    alerts: tuple[dict[str, Any], ...]


def _get(url: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - user's own URL
            body: dict[str, Any] = json.loads(resp.read())
            return body
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None  # nothing evaluated for the model yet
        raise


def fetch_findings(
    api_url: str, model: str, starts: list[float], *, min_coverage: float, timeout: float = 60.0
) -> ExternalFindings:
    """Poll the API until every window in ``starts`` has been evaluated, the last one
    with at least ``min_coverage`` of its predictions labelled (or ``timeout``)."""
    if not api_url.startswith(("http://", "https://")):
        raise ConfigurationError(f"--evaluator-api: expected an http(s) URL, got {api_url!r}")
    url = f"{api_url.rstrip('/')}/api/models/{model}/report"
    deadline = time.monotonic() + timeout
    body: dict[str, Any] | None = None
    while True:
        try:
            body = _get(url)
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"--evaluator-api: cannot read {url}: {exc}") from exc
        history = {float(h["window_start"]): h for h in (body or {}).get("history", [])}
        done = all(s in history for s in starts) and _covered(history, starts, min_coverage)
        if done or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    return ExternalFindings(history, tuple((body or {}).get("alerts", [])))


def _covered(history: dict[float, dict[str, Any]], starts: list[float], least: float) -> bool:
    """Whether the last window's evaluation already includes the late labels."""
    last = history.get(starts[-1]) if starts else None
    cov = None if last is None else last.get("label_coverage")
    return cov is not None and cov >= least
