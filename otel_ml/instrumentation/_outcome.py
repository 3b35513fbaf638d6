"""``otel_ml.record_outcome``: report ground truth for earlier predictions, from any process.

Examples
--------
>>> record_outcome(model="credit_risk", ids=["a-1", "a-2"], actuals=[1, 0])
>>> record_outcome(model="credit_risk", ids="a-3", actuals=0)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from opentelemetry import _logs

from otel_ml import semconv
from otel_ml._errors import ConfigurationError
from otel_ml._version import __version__
from otel_ml.instrumentation import _clock
from otel_ml.instrumentation._events import emit_outcome
from otel_ml.sketch._categorical import _as_strings

__all__ = ["record_outcome"]

#: Ids per outcome event; longer lists are split.
MAX_OUTCOME_ROWS = 10_000


def _sequence(x: Any) -> list[Any]:
    if isinstance(x, (str, bytes)) or not isinstance(x, Iterable):
        return [x]
    return list(x)


def record_outcome(
    *,
    model: str,
    ids: Any,
    actuals: Any,
    version: str | None = None,
    as_labels: bool | None = None,
    logger_provider: _logs.LoggerProvider | None = None,
) -> None:
    """Emit the ``ml.outcome`` event: the true outcome of predictions, by prediction id.

    Parameters
    ----------
    model, version
        The model the predictions came from (``version`` optional).
    ids
        A prediction id or a sequence of them (as returned by
        :func:`otel_ml.last_prediction_ids`, or your own ids from ``id_column``).
    actuals
        The true class or value per id. Float values are sent as numbers
        (regression); anything else as strings (classes, written as the
        prediction labels are: ``1``, ``"yes"``, ``True``).
    as_labels
        Force classes (``True``) or numbers (``False``) instead of inferring.

    Raises
    ------
    ConfigurationError
        When ``ids`` and ``actuals`` differ in length, or the model is empty.
    """
    if not isinstance(model, str) or not model:
        raise ConfigurationError("record_outcome: model must be the non-empty model name")
    id_list = [str(i) for i in _sequence(ids)]
    arr = np.asarray(_sequence(actuals))
    if arr.ndim != 1 or len(arr) != len(id_list):
        raise ConfigurationError(
            f"record_outcome: {len(id_list)} ids but {arr.size} actuals; give one actual per id"
        )
    labels = as_labels if as_labels is not None else arr.dtype.kind != "f"
    values: list[str] | list[float]
    if labels:
        values = _as_strings(arr).tolist() if arr.dtype.kind != "O" else [str(v) for v in arr]
    else:
        try:
            values = arr.astype(np.float64).tolist()
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(
                f"record_outcome: actuals are not numbers ({exc}); pass as_labels=True"
            ) from None
    logger = _logs.get_logger(semconv.SCOPE_NAME, __version__, logger_provider=logger_provider)
    now = _clock.time_ns()
    for start in range(0, len(id_list), MAX_OUTCOME_ROWS):
        emit_outcome(
            logger,
            model=model,
            version=version,
            ids=id_list[start : start + MAX_OUTCOME_ROWS],
            actuals=values[start : start + MAX_OUTCOME_ROWS],
            time_unix_nano=now,
        )
