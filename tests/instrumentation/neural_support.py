"""Shared pieces of the PyTorch and ONNX Runtime instrumentor tests.

Their ``instrument`` fixtures are ``sklearn_support.instrument_fixture_for(cls)`` (the
in-memory providers of ``sklearn_support.telemetry_fixture``); ``window`` reads what the
process aggregator holds for one model.
"""

from __future__ import annotations

from sklearn_support import Telemetry

from otel_ml.instrumentation._window import ModelWindow


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
