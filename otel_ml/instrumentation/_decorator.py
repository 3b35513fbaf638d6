"""``@otel_ml.monitor``: monitor a predict function, coroutine function or method.

Examples
--------
>>> import numpy as np
>>> @monitor(model="doubler", version="1")
... def predict(x):
...     return x[:, 0] * 2
>>> x = np.ones((3, 2))
>>> result = predict(x)
>>> result.tolist(), len(last_prediction_ids())
([2.0, 2.0, 2.0], 3)
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, overload

from opentelemetry import _logs, metrics, trace

from otel_ml._errors import ConfigurationError
from otel_ml.instrumentation._aggregator import Aggregator
from otel_ml.instrumentation._ids import last_prediction_ids
from otel_ml.instrumentation._monitor import ModelMonitor
from otel_ml.instrumentation._options import MonitorOptions
from otel_ml.instrumentation._runtime import Runtime
from otel_ml.mlflow import load_profile
from otel_ml.sketch import Profile

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from otel_ml.instrumentation._options import MonitorKwargs

__all__ = ["last_prediction_ids", "monitor"]

F = TypeVar("F", bound=Callable[..., Any])

_SELF_NAMES = ("self", "cls")


def _argument_locator(
    fn: Callable[..., Any], name: str | None, role: str
) -> Callable[[tuple[Any, ...], dict[str, Any]], Any] | None:
    """A function picking argument ``name`` (default: the first non-self one) from a call."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        params = []
    positional = [
        p
        for p in params
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    if name is None:
        if role == "ids":
            return None
        candidates = [p for p in positional if p.name not in _SELF_NAMES or p is not positional[0]]
        if not candidates:
            return lambda args, kwargs: args[0] if args else None
        name = candidates[0].name
    names = [p.name for p in params]
    if params and name not in names and not any(p.kind is p.VAR_KEYWORD for p in params):
        raise ConfigurationError(
            f"{'id' if role == 'ids' else role}_argument={name!r} is not a parameter of "
            f"{fn.__qualname__}{inspect.signature(fn)}"
        )
    index = next((i for i, p in enumerate(positional) if p.name == name), None)

    def locate(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if name in kwargs:
            return kwargs[name]
        if index is not None and index < len(args):
            return args[index]
        return None

    return locate


@overload
def monitor(model: F) -> F: ...
@overload
def monitor(
    model: str | None = None,
    version: str | None = None,
    *,
    reference: Profile | str | os.PathLike[str] | None = None,
    input_argument: str | None = None,
    operation: str = "predict",
    aggregator: Aggregator | None = None,
    tracer_provider: trace.TracerProvider | None = None,
    logger_provider: _logs.LoggerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
    runtime: Runtime | None = None,
    **options: Unpack[MonitorKwargs],
) -> Callable[[F], F]: ...


def monitor(
    model: Any = None,
    version: str | None = None,
    *,
    reference: Profile | str | os.PathLike[str] | None = None,
    input_argument: str | None = None,
    operation: str = "predict",
    aggregator: Aggregator | None = None,
    tracer_provider: trace.TracerProvider | None = None,
    logger_provider: _logs.LoggerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
    runtime: Runtime | None = None,
    **options: Any,
) -> Any:
    """Monitor a predict function: spans, metrics, feature sketches and prediction events.

    Use as ``@monitor(model="credit_risk", version="3", reference="ref.profile.json")``
    (or bare ``@monitor``, naming the model after the function). The decorated
    function returns exactly what the original returns and raises exactly what it
    raises. The keyword options (``task``, ``id_column``, ``features``,
    ``feature_sample_rate``, ``max_event_rows``, ...) are the fields of
    :class:`MonitorOptions`, with its defaults; besides them:

    Parameters
    ----------
    model, version
        ``ml.model.name`` (default: the function's name) and ``ml.model.version``.
    reference
        A :class:`~otel_ml.Profile`, the path of a saved one, or an MLflow URI
        (``models:/credit_risk@champion``, ``models:/credit_risk/3``, ``runs:/<id>/otel_ml``;
        see :mod:`otel_ml.mlflow`), loaded now.
    input_argument
        The argument holding the features (default: the first one, ``self``
        and ``cls`` skipped).
    operation
        ``ml.operation`` and the first word of the span name.
    aggregator, tracer_provider, logger_provider, meter_provider, runtime
        Collaborators (default: the process aggregator, the global providers and
        the process runtime).

    The wrapped function has a ``monitor`` attribute (the :class:`ModelMonitor`).
    """
    if callable(model) and not isinstance(model, str):
        return monitor()(model)
    if isinstance(reference, (str, os.PathLike)):
        reference = load_profile(reference)
    named: dict[str, Any] = {"version": version} if version is not None else {}

    def decorate(fn: F) -> F:
        if isinstance(fn, (classmethod, staticmethod)):
            raise ConfigurationError(
                f"@monitor is applied to a {type(fn).__name__} object; put @monitor below "
                f"@{type(fn).__name__} (closest to the function)"
            )
        opts = MonitorOptions(
            model=model if model is not None else getattr(fn, "__name__", "model"),
            reference=reference,
            **named,
            **options,
        )
        mon = ModelMonitor(
            opts,
            aggregator=aggregator,
            tracer_provider=tracer_provider,
            logger_provider=logger_provider,
            meter_provider=meter_provider,
            runtime=runtime,
        )
        get_inputs = _argument_locator(fn, input_argument, "input")
        get_ids = _argument_locator(fn, opts.id_argument, "ids")
        assert get_inputs is not None
        op = operation

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                ids = get_ids(args, kwargs) if get_ids is not None else None
                return await mon.acall(
                    fn, args, kwargs, operation=op, inputs=get_inputs(args, kwargs), ids=ids
                )

            async_wrapper.monitor = mon  # type: ignore[attr-defined]
            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            ids = get_ids(args, kwargs) if get_ids is not None else None
            return mon.call(
                fn, args, kwargs, operation=op, inputs=get_inputs(args, kwargs), ids=ids
            )

        wrapper.monitor = mon  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate
