"""Shared pieces of the PyTorch and ONNX Runtime instrumentor tests.

``instrument_fixture(cls)`` gives a fixture that instruments ``cls`` with the
in-memory providers of ``sklearn_support.telemetry_fixture`` and uninstruments
afterwards; ``window`` reads what the process aggregator holds for one model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from sklearn_support import Telemetry

from otel_ml.instrumentation._window import ModelWindow


def instrument_fixture(cls: type) -> Callable[[Telemetry], Iterator[Callable[..., Any]]]:
    def fixture(telemetry: Telemetry) -> Iterator[Callable[..., Any]]:
        instrumentor = cls()

        def start(**kwargs: object) -> Any:
            instrumentor.instrument(
                tracer_provider=telemetry.tracer_provider,
                logger_provider=telemetry.logger_provider,
                meter_provider=telemetry.meter_provider,
                **kwargs,
            )
            return instrumentor

        yield start
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()

    return fixture


def windows(telemetry: Telemetry) -> dict[str, ModelWindow]:
    """The calls, counts and sketches of every model since the last look, by model name."""
    from otel_ml.instrumentation import flush

    flush()
    return {key.model: w for key, w in telemetry.consumer.collect().windows.items()}


def window(telemetry: Telemetry, model: str) -> ModelWindow:
    """The calls, counts and sketches of one model since the last look."""
    found = windows(telemetry)
    assert model in found, sorted(found)
    return found[model]
