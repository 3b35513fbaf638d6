"""``suppress_instrumentation()`` (opentelemetry-instrumentation) turns @monitor off: the SDK
checks the same context keys without importing that module at start-up."""

from __future__ import annotations

import numpy as np
from opentelemetry.instrumentation.utils import suppress_instrumentation
from sdk_support import Telemetry

import otel_ml
from otel_ml.instrumentation import flush


def test_a_monitored_call_under_suppress_instrumentation_runs_plain(telemetry: Telemetry) -> None:
    out = np.array([0.25, 0.75])

    @otel_ml.monitor(model="m", **telemetry.kwargs())  # type: ignore[arg-type]
    def predict(x: np.ndarray) -> np.ndarray:
        return out

    with suppress_instrumentation():
        assert predict(np.ones((2, 3))) is out
    flush()
    assert telemetry.spans() == () and telemetry.events() == []
    assert predict(np.ones((2, 3))) is out  # and on again outside
    flush()
    assert len(telemetry.spans()) == 1
