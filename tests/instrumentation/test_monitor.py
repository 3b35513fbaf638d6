"""@monitor / ModelMonitor: spans, counts, sketches, events, ids, errors."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from typing import Any

import numpy as np
import pytest
from sdk_support import Telemetry

import otel_ml
from otel_ml import semconv
from otel_ml.instrumentation import ModelKey, flush


def test_batch_call_returns_same_object_and_records_everything(telemetry: Telemetry) -> None:
    out = np.array([0.1, 0.9, 0.4])

    @otel_ml.monitor(model="m", version="2", **telemetry.kwargs())  # type: ignore[arg-type]
    def predict(x: np.ndarray) -> np.ndarray:
        return out

    x = np.arange(60, dtype=float).reshape(3, 20)
    assert predict(x) is out
    ids = otel_ml.last_prediction_ids()
    assert len(ids) == 3 and len(set(ids)) == 3
    flush()
    w = telemetry.consumer.collect().windows[ModelKey("m", "2")]
    assert (w.calls, w.rows, w.duration.count) == (1, 3, 1)
    assert set(w.numeric) == {f"f{j}" for j in range(20)}
    assert w.numeric["f0"].count == 3 and w.numeric["f0"].max == 40.0
    assert w.predictions["score"].count == 3
    (span,) = telemetry.spans()
    assert span.name == "predict m"
    assert span.attributes is not None
    assert span.attributes[semconv.ML_BATCH_SIZE] == 3
    assert span.attributes[semconv.ML_MODEL_VERSION] == "2"
    (call,) = telemetry.calls()
    assert call[semconv.ML_PREDICTION_IDS] == list(ids)
    assert call[semconv.ML_PREDICTION_VALUES] == [0.1, 0.9, 0.4]
    assert call["trace_id"] == span.context.trace_id and call["span_id"] == span.context.span_id


def test_single_rows_are_buffered_then_sketched(telemetry: Telemetry) -> None:
    @otel_ml.monitor(model="m", id_column="id", **telemetry.kwargs())  # type: ignore[arg-type]
    def predict(row: dict[str, object]) -> str:
        return "yes" if row["age"] > 30 else "no"  # type: ignore[operator]

    for i in range(50):
        row = {"id": f"r{i}", "age": float(i), "city": "x" if i % 2 else "y"}
        assert predict(row) in ("yes", "no")
        assert otel_ml.last_prediction_ids() == (f"r{i}",)
    flush()
    w = telemetry.consumer.collect().windows[ModelKey("m", "unknown")]
    assert w.calls == 50 and w.numeric["age"].count == 50
    assert w.categorical["city"].counts == {"x": 25, "y": 25}
    assert "id" not in w.categorical and "id" not in w.numeric
    assert w.classes == {"yes": 19, "no": 31}
    calls = telemetry.calls()
    assert len(calls) == 50 and len(telemetry.events()) == 1  # 50 calls in one record
    assert calls[3][semconv.ML_PREDICTION_LABELS] == ["no"]
    assert [c[semconv.ML_PREDICTION_IDS] for c in calls] == [[f"r{i}"] for i in range(50)]


def test_user_exception_propagates_unchanged(telemetry: Telemetry) -> None:
    boom = KeyError("missing column")

    @otel_ml.monitor(model="m", **telemetry.kwargs())  # type: ignore[arg-type]
    def predict(x: object) -> None:
        raise boom

    with pytest.raises(KeyError) as info:
        predict(np.zeros((2, 2)))
    assert info.value is boom
    w = telemetry.consumer.collect().windows[ModelKey("m", "unknown")]
    assert w.errors == {"KeyError": 1} and w.calls == 1
    (span,) = telemetry.spans()
    assert span.attributes[semconv.ERROR_TYPE] == "KeyError"  # type: ignore[index]


def test_async_function_and_method(telemetry: Telemetry) -> None:
    class Model:
        @otel_ml.monitor(model="svc", **telemetry.kwargs())  # type: ignore[arg-type]
        async def predict(self, x: np.ndarray) -> np.ndarray:
            await asyncio.sleep(0)
            return x.sum(axis=1)

    x = np.ones((4, 2))
    res = asyncio.run(Model().predict(x))
    assert res.tolist() == [2.0] * 4
    w = telemetry.consumer.collect().windows[ModelKey("svc", "unknown")]
    assert w.rows == 4 and sorted(w.numeric) == ["f0", "f1"]


def test_ids_from_an_argument_and_per_thread_and_task(telemetry: Telemetry) -> None:
    @otel_ml.monitor(model="m", id_argument="request_ids", **telemetry.kwargs())  # type: ignore[arg-type]
    def predict(x: np.ndarray, request_ids: list[str]) -> np.ndarray:
        return x[:, 0]

    predict(np.zeros((2, 3)), request_ids=["q1", "q2"])
    assert otel_ml.last_prediction_ids() == ("q1", "q2")
    seen: dict[str, tuple[str, ...]] = {}

    def worker(name: str) -> None:
        predict(np.zeros((1, 3)), [name])
        seen[name] = otel_ml.last_prediction_ids()

    threads = [threading.Thread(target=worker, args=(f"t{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {f"t{i}": (f"t{i}",) for i in range(8)}
    assert otel_ml.last_prediction_ids() == ("q1", "q2")  # this thread's own last call

    @otel_ml.monitor(model="m", id_argument="ids", **telemetry.kwargs())  # type: ignore[arg-type]
    async def apredict(x: np.ndarray, ids: list[str]) -> np.ndarray:
        await asyncio.sleep(0.01)
        return x[:, 0]

    async def request(name: str) -> tuple[str, ...]:
        await apredict(np.zeros((1, 2)), [name])
        return otel_ml.last_prediction_ids()

    async def main() -> list[tuple[str, ...]]:
        return list(await asyncio.gather(*(request(f"a{i}") for i in range(5))))

    assert asyncio.run(main()) == [(f"a{i}",) for i in range(5)]
    events = telemetry.events()
    ids = sorted(i for e in events for i in e.log_record.attributes[semconv.ML_PREDICTION_IDS])  # type: ignore[index, union-attr]
    assert ids == sorted(["q1", "q2"] + [f"t{i}" for i in range(8)] + [f"a{i}" for i in range(5)])


def test_privacy_allow_deny_lists_and_raw_capture_opt_in(telemetry: Telemetry) -> None:
    row = {"age": 41.0, "ssn": "123-45-6789", "city": "paris"}

    @otel_ml.monitor(model="p", exclude_features=["ssn"], **telemetry.kwargs())  # type: ignore[arg-type]
    def private(r: dict[str, object]) -> float:
        return 0.5

    @otel_ml.monitor(model="o", features=["age", "ssn"], exclude_features=(),
                     capture_raw_inputs=True, **telemetry.kwargs())  # type: ignore[arg-type]  # fmt: skip
    def opted_in(r: dict[str, object]) -> float:
        return 0.5

    private(row)
    opted_in(row)
    flush()
    windows = telemetry.consumer.collect().windows
    p = windows[ModelKey("p", "unknown")]
    assert set(p.numeric) | set(p.categorical) == {"age", "city"}
    o = windows[ModelKey("o", "unknown")]
    assert set(o.numeric) | set(o.categorical) == {"age", "ssn"}
    by_model = {e.log_record.attributes[semconv.ML_MODEL_NAME]: e for e in telemetry.events()}  # type: ignore[index]
    assert "123-45-6789" not in str(dict(by_model["p"].log_record.attributes))  # type: ignore[arg-type]
    captured = by_model["o"].log_record.attributes[semconv.ML_FEATURE_VALUES_CAPTURED]  # type: ignore[index]
    assert json.loads(captured) == [{"age": 41.0, "ssn": "123-45-6789"}]  # type: ignore[arg-type]
    for span in telemetry.spans():
        assert "123-45-6789" not in str(dict(span.attributes or {}))


def test_feature_sampling(telemetry: Telemetry) -> None:
    @otel_ml.monitor(model="s", feature_sample_rate=0.25, **telemetry.kwargs())  # type: ignore[arg-type]
    def predict(x: np.ndarray) -> np.ndarray:
        return x[:, 0]

    for _ in range(400):
        predict(np.ones((50, 2)))
    w = telemetry.consumer.collect().windows[ModelKey("s", "unknown")]
    assert w.calls == 400 and w.rows == 20_000
    assert w.predictions["score"].count == 20_000  # outputs are always counted
    sampled_rows = w.numeric["f0"].count
    assert 0.15 * 20_000 < sampled_rows < 0.35 * 20_000 and sampled_rows % 50 == 0


def test_counts_are_exact_under_concurrency(telemetry: Telemetry) -> None:
    @otel_ml.monitor(model="c", **telemetry.kwargs())  # type: ignore[arg-type]
    def predict(x: object) -> np.ndarray:
        return np.zeros(1)

    def hammer(k: int) -> None:
        for i in range(300):
            predict({"k": float(k), "i": float(i)} if i % 2 else np.ones((20, 2)))

    threads = [threading.Thread(target=hammer, args=(k,)) for k in range(6)]
    collected = []
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        collected.append(telemetry.consumer.collect())  # exports race with the calls
    for t in threads:
        t.join()
    collected.append(telemetry.consumer.collect())
    key = ModelKey("c", "unknown")
    ws = [d.windows[key] for d in collected if key in d.windows]
    assert sum(w.calls for w in ws) == 1800
    assert sum(w.rows for w in ws) == 900 * 1 + 900 * 20
    assert sum(w.numeric["k"].count for w in ws if "k" in w.numeric) == 900
    assert sum(w.numeric["f0"].count for w in ws if "f0" in w.numeric) == 900 * 20


def test_nested_calls_can_be_skipped(telemetry: Telemetry) -> None:
    inner = otel_ml.ModelMonitor(
        otel_ml.MonitorOptions(model="inner", skip_nested=True),
        **telemetry.kwargs(),  # type: ignore[arg-type]
    )
    outer = otel_ml.ModelMonitor(otel_ml.MonitorOptions(model="outer"), **telemetry.kwargs())  # type: ignore[arg-type]
    x = np.ones((3, 2))

    def final(v: np.ndarray) -> np.ndarray:
        return v[:, 0]

    def pipeline(v: np.ndarray) -> np.ndarray:
        return inner.call(final, (v,), {}, operation="predict", inputs=v)

    assert outer.call(pipeline, (x,), {}, operation="predict", inputs=x).tolist() == [1.0] * 3
    assert [s.name for s in telemetry.spans()] == ["predict outer"]
    inner.call(final, (x,), {}, operation="predict", inputs=x)  # alone: monitored
    assert [s.name for s in telemetry.spans()] == ["predict outer", "predict inner"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"model": ""}, "model"),
        ({"model": "m", "task": "clustering"}, "task"),
        ({"model": "m", "feature_sample_rate": 1.5}, "feature_sample_rate"),
        ({"model": "m", "features": "age"}, "features"),
        ({"model": "m", "id_column": "a", "id_argument": "b"}, "id_column"),
        ({"model": "m", "features": ["a"], "exclude_features": ["a"]}, "features"),
        ({"model": "m", "max_categories": 0}, "max_categories"),
    ],
)
def test_bad_options_fail_at_configuration_time(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(otel_ml.ConfigurationError, match=field):
        otel_ml.MonitorOptions(**kwargs)  # type: ignore[arg-type]


def test_bad_decorator_arguments_and_outcomes() -> None:
    with pytest.raises(otel_ml.ConfigurationError, match="id_argument='nope'"):

        @otel_ml.monitor(model="m", id_argument="nope")
        def predict(x: object) -> None: ...

    with pytest.raises(otel_ml.ConfigurationError, match="2 ids but 3 actuals"):
        otel_ml.record_outcome(model="m", ids=["a", "b"], actuals=[1, 0, 1])


def test_outcome_event_values(telemetry: Telemetry) -> None:
    otel_ml.record_outcome(model="m", version="2", ids=["a", "b"], actuals=np.array([1.5, 2.0]),
                           logger_provider=telemetry.logger_provider)  # fmt: skip
    otel_ml.record_outcome(
        model="m", ids="c", actuals=True, logger_provider=telemetry.logger_provider
    )
    first, second = telemetry.events(semconv.EVENT_OUTCOME)
    a = dict(first.log_record.attributes)  # type: ignore[arg-type]
    assert a[semconv.ML_OUTCOME_VALUES] == (1.5, 2.0) and a[semconv.ML_MODEL_VERSION] == "2"
    b = dict(second.log_record.attributes)  # type: ignore[arg-type]
    assert b[semconv.ML_OUTCOME_VALUES] == ("True",) and semconv.ML_MODEL_VERSION not in b


def test_a_forked_child_starts_empty_and_unique(telemetry: Telemetry) -> None:
    @otel_ml.monitor(model="f", **telemetry.kwargs())  # type: ignore[arg-type]
    def predict(x: np.ndarray) -> np.ndarray:
        return x[:, 0]

    predict(np.ones((5, 2)))
    parent_ids = otel_ml.last_prediction_ids()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report what it sees, then leave without running pytest's atexit
        try:
            predict(np.ones((2, 2)))
            w = telemetry.consumer.collect().windows[ModelKey("f", "unknown")]
            msg = json.dumps({"rows": w.rows, "ids": list(otel_ml.last_prediction_ids())})
            os.write(write, msg.encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = json.loads(os.read(read, 65536).decode())
    os.close(read)
    assert child["rows"] == 2  # the parent's 5 rows are not exported twice
    assert not set(child["ids"]) & set(parent_ids)
    assert child["ids"][0].split("-")[0] != parent_ids[0].split("-")[0]  # new id prefix
    assert telemetry.consumer.collect().windows[ModelKey("f", "unknown")].rows == 5


_APP_WITH_OWN_PROVIDER = """
import numpy as np, otel_ml
from opentelemetry import _logs
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import ConsoleLogRecordExporter, SimpleLogRecordProcessor

provider = LoggerProvider()
exporter = ConsoleLogRecordExporter(formatter=lambda r: (
    f"EVENT {r.log_record.event_name} "
    f"{len(r.log_record.attributes['ml.prediction.call.offsets'])} calls\\n"))
provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
_logs.set_logger_provider(provider)

@otel_ml.monitor(model="m")
def predict(x):
    return x[:, 0]

for _ in range(3):
    predict(np.ones((1, 2)))   # buffered: the worker has not run yet when the app exits
"""


def test_buffered_events_are_flushed_at_exit_without_configure() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _APP_WITH_OWN_PROVIDER],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "EVENT ml.prediction 3 calls\n"  # the open record, sent at exit


def test_static_and_class_methods(telemetry: Telemetry) -> None:
    class Model:
        scale = 3.0

        @classmethod
        @otel_ml.monitor(model="cls", **telemetry.kwargs())  # type: ignore[arg-type]
        def predict(cls, x: np.ndarray) -> np.ndarray:
            return x[:, 0] * cls.scale

        @staticmethod
        @otel_ml.monitor(model="static", **telemetry.kwargs())  # type: ignore[arg-type]
        def score(x: np.ndarray) -> np.ndarray:
            return x[:, 1]

    x = np.ones((20, 2))
    assert Model.predict(x).tolist() == [3.0] * 20 and Model().score(x).tolist() == [1.0] * 20
    windows = telemetry.consumer.collect().windows
    assert windows[ModelKey("cls", "unknown")].numeric["f0"].count == 20
    assert windows[ModelKey("static", "unknown")].rows == 20
    with pytest.raises(otel_ml.ConfigurationError, match="below @classmethod"):
        otel_ml.monitor(model="m")(classmethod(lambda cls, x: x))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "make",
    [
        lambda: (i for i in range(3)),
        lambda: [[1.0, 2.0], [3.0]],
        lambda: None,
        lambda: {"a": float("nan"), "b": "x" * 100_000},
        lambda: np.array([[np.inf, -np.inf]]),
    ],
    ids=["generator", "ragged", "none", "huge-string", "inf"],
)
def test_async_calls_fail_open(telemetry: Telemetry, make: Any) -> None:
    async def raw(x: Any) -> Any:
        await asyncio.sleep(0)
        if x is None:
            raise ValueError("no input")
        return x

    decorated = otel_ml.monitor(model="a", **telemetry.kwargs())(raw)  # type: ignore[arg-type]
    x = make()
    try:
        want: Any = asyncio.run(raw(make()))
    except ValueError as exc:
        want = exc
    try:
        got: Any = asyncio.run(decorated(x))
    except ValueError as exc:
        got = exc
    if isinstance(want, Exception):
        assert type(got) is type(want) and got.args == want.args
    else:
        assert got is x
    flush()


def test_monitor_options_are_defined_once() -> None:
    """@monitor's keyword options are MonitorOptions' fields (defaults live there only)."""
    from dataclasses import fields

    from otel_ml.instrumentation._options import MonitorKwargs, MonitorOptions, Task

    own = {"model", "version", "reference"}
    assert set(MonitorKwargs.__optional_keys__) == {
        f.name for f in fields(MonitorOptions) if f.init and f.name not in own
    }
    decorated = otel_ml.monitor(model="m", features=["a"], task="regression")(lambda x: x)
    options = decorated.monitor.options  # type: ignore[attr-defined]
    assert options == MonitorOptions(model="m", features=("a",), task=Task.REGRESSION)
