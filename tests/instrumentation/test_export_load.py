"""configure() under load: 8 threads of single-row calls through the real OTLP exporters.

Every span and ``ml.prediction`` event reaches a loopback receiver with configure()'s
queue sizes; with a queue forced tiny through the standard ``OTEL_BSP_*`` /
``OTEL_BLRP_*`` variables, what does not arrive is what ``otel_ml.internal.errors``
counted as dropped (stage ``export``). The count is the SDK batch processor's own
(``BatchProcessor.emit``: "queue full" checked, then the record queued); under
concurrent threads and a concurrent export it can be off by a few records either way.
"""

from __future__ import annotations

import json
import textwrap

from sdk_otlp_receiver import Received, http_receiver, number, run_app

from otel_ml import semconv

_APP = textwrap.dedent(
    """
    import json, threading
    import numpy as np
    import otel_ml
    from otel_ml.instrumentation import internal_errors

    cfg = otel_ml.configure(service_name="load")

    @otel_ml.monitor(model="m", version="1", prediction_events="{events}")
    def predict(x):
        return x[:, 0]

    def run():
        row = np.ones((1, 3))
        for _ in range({calls}):
            predict(row)

    threads = [threading.Thread(target=run) for _ in range({threads})]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cfg.shutdown()
    print(json.dumps({{f"{{s}}/{{t}}": n for (s, t), n in internal_errors().counts.items()}}))
    """
)


def _run(
    url: str, calls: int, threads: int, events: str = "batched", **env: str
) -> dict[str, int]:
    app = _APP.format(calls=calls, threads=threads, events=events)
    out = run_app(["-c", app], url, timeout=300, **env)
    counts: dict[str, int] = json.loads(out.strip().splitlines()[-1])
    return counts


def _dropped_on_the_self_metric(received: Received) -> dict[str, int]:
    return {
        a[semconv.ERROR_TYPE]: int(number(p))
        for _, a, p in received.metric_points(semconv.METRIC_INTERNAL_ERRORS)
        if a[semconv.INTERNAL_STAGE] == "export"
    }


def test_eight_threads_of_single_row_calls_deliver_every_span_and_event() -> None:
    threads, calls = 8, 4_000
    with http_receiver() as (url, received):
        counts = _run(url, calls, threads)
        assert counts == {}
        assert len(received.spans()) == threads * calls
        assert len(received.prediction_calls()) == threads * calls  # in far fewer records
        assert len(received.log_records(semconv.EVENT_PREDICTION)) < threads * calls / 20
        rows = sum(number(p) for _, _, p in received.metric_points(semconv.METRIC_PREDICT_ROWS))
        assert rows == threads * calls


def test_a_forced_overflow_is_counted_on_the_self_metric() -> None:
    threads, calls = 4, 1_000
    tiny = {
        "OTEL_BSP_MAX_QUEUE_SIZE": "16",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "16",
        "OTEL_BSP_SCHEDULE_DELAY": "60000",
        "OTEL_BLRP_MAX_QUEUE_SIZE": "16",
        "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE": "16",
        "OTEL_BLRP_SCHEDULE_DELAY": "60000",
    }
    with http_receiver() as (url, received):
        counts = _run(url, calls, threads, "per_call", **tiny)  # one record per call
        spans = len(received.spans())
        events = len(received.log_records(semconv.EVENT_PREDICTION))
        assert spans < threads * calls and events < threads * calls  # the queues did overflow
        # every span and event either arrived or was counted, in process and on the metric
        n = threads * calls
        lost = {"span_queue_full": n - spans, "log_queue_full": n - events}
        on_metric = _dropped_on_the_self_metric(received)
        assert set(on_metric) == set(lost)
        for error_type, missing in lost.items():
            assert on_metric[error_type] == counts[f"export/{error_type}"]
            assert on_metric[error_type] == missing, (error_type, missing)  # exactly
