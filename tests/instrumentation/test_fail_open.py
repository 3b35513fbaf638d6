"""Never break the model: whatever the input, the decorated call behaves exactly as the original.

Hypothesis feeds bad inputs (ragged lists, object arrays, None, NaN, ±inf, huge
strings, empty batches, wrong column sets, generators, hostile objects) to
undecorated and decorated predict functions and compares results and
exceptions; otel_ml's own failures must be counted on ``otel_ml.internal.errors``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from sdk_support import Telemetry

import otel_ml
from otel_ml import semconv
from otel_ml.instrumentation import Runtime, _batch, _monitor, flush
from otel_ml.instrumentation._internal_errors import InternalErrors
from otel_ml.sketch import Profile

# ---- inputs ------------------------------------------------------------------------------
HUGE = "x" * 200_000
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.just(HUGE),
    st.just(float("nan")),
    st.just(float("-inf")),
)
names = st.sampled_from(["age", "income", "city", "id", "extra", "", "0"])
rows = st.dictionaries(names, scalars, max_size=5)


class Hostile:
    """An object whose every conversion fails."""

    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __float__(self) -> float:
        raise RuntimeError("no float")

    def __len__(self) -> int:
        raise RuntimeError("no len")


class BadList(list):  # type: ignore[type-arg]
    def __len__(self) -> int:
        raise RuntimeError("no len")


def _array(draw: st.DrawFn) -> Any:
    shape = draw(st.sampled_from([(0,), (3,), (0, 4), (2, 3), (1, 5), (2, 2, 2), ()]))
    kind = draw(st.sampled_from(["float", "object", "str", "int"]))
    size = int(np.prod(shape)) if shape else 1
    if kind == "float":
        vals = draw(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=size,
                             max_size=size))  # fmt: skip
        return np.array(vals, dtype=float).reshape(shape)
    if kind == "int":
        return np.arange(size, dtype=np.int64).reshape(shape)
    if kind == "str":
        return np.array([draw(st.sampled_from(["a", "b", HUGE[:5000]])) for _ in range(size)]
                        ).reshape(shape)  # fmt: skip
    arr = np.empty(size, dtype=object)
    arr[:] = [draw(scalars) for _ in range(size)]
    return arr.reshape(shape)


@st.composite
def input_factories(draw: st.DrawFn) -> tuple[str, Callable[[], Any]]:
    """A fresh, equal input per call (generators cannot be replayed)."""
    kind = draw(st.sampled_from([
        "array", "ragged", "dict", "dicts", "frame", "none", "scalar", "generator",
        "empty_list", "hostile", "hostile_row", "bad_list", "nested_dict",
    ]))  # fmt: skip
    if kind == "array":
        a = _array(draw)
        return kind, lambda: a.copy()
    if kind == "ragged":
        lists = draw(st.lists(st.lists(scalars, max_size=4), min_size=1, max_size=5))
        return kind, lambda: [list(r) for r in lists]
    if kind == "dict":
        r = draw(rows)
        return kind, lambda: dict(r)
    if kind == "dicts":
        rs = draw(st.lists(rows, max_size=30))
        return kind, lambda: [dict(r) for r in rs]
    if kind == "frame":
        cols = draw(st.dictionaries(names, st.lists(scalars, min_size=3, max_size=3), max_size=4))
        return kind, lambda: pd.DataFrame({k: list(v) for k, v in cols.items()})
    if kind == "none":
        return kind, lambda: None
    if kind == "scalar":
        v = draw(scalars)
        return kind, lambda: v
    if kind == "generator":
        n = draw(st.integers(0, 5))
        return kind, lambda: (float(i) for i in range(n))
    if kind == "empty_list":
        return kind, list
    if kind == "hostile":
        return kind, Hostile
    if kind == "hostile_row":
        return kind, lambda: {"age": Hostile(), Hostile(): 1}  # type: ignore[dict-item]
    if kind == "bad_list":
        return kind, lambda: BadList([[1.0, 2.0]])
    return kind, lambda: {"age": [1, 2], "city": [[1], [2, 3]]}


# ---- user functions ----------------------------------------------------------------------
def identity(x: Any) -> Any:
    return x


def as_sum(x: Any) -> Any:
    return np.asarray(x, dtype=float).sum(axis=-1)


def consume(x: Any) -> Any:
    return [str(v)[:3] for v in x]


def probabilities(x: Any) -> Any:
    n = len(x)
    return np.full((n, 2), 0.5)


def raises(x: Any) -> Any:
    raise LookupError(f"bad input of type {type(x).__name__}")


USER_FUNCTIONS = [identity, as_sum, consume, probabilities, raises]


def _outcome(fn: Callable[[Any], Any], x: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(x)
    except Exception as exc:  # noqa: BLE001 - the test compares exceptions
        return "raised", exc


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            type(a) is type(b)
            and a.shape == b.shape
            and a.dtype == b.dtype
            and (a.dtype.kind == "O" and repr(a) == repr(b) or np.array_equal(a, b, equal_nan=True))
        )
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (a != a and b != b)
    return type(a) is type(b) and repr(a) == repr(b)


@pytest.fixture(scope="module")
def reference() -> Profile:
    rng = np.random.default_rng(0)
    return Profile.from_data(
        pd.DataFrame(
            {
                "age": rng.integers(18, 90, 300).astype(float),
                "income": rng.normal(0, 1, 300),
                "city": rng.choice(["paris", "lyon"], 300),
            }
        )
    )


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(factory=input_factories(), fn_index=st.integers(0, len(USER_FUNCTIONS) - 1),
       with_reference=st.booleans())  # fmt: skip
def test_decorated_call_behaves_exactly_like_the_original(
    telemetry: Telemetry,
    reference: Profile,
    factory: tuple[str, Callable[[], Any]],
    fn_index: int,
    with_reference: bool,
) -> None:
    _, make = factory
    user = USER_FUNCTIONS[fn_index]
    calls = []

    def counted(x: Any) -> Any:
        calls.append(1)
        return user(x)

    decorated = otel_ml.monitor(
        model="prop", version="1", id_column="id",
        reference=reference if with_reference else None, **telemetry.kwargs(),
    )(counted)  # type: ignore[arg-type]  # fmt: skip
    want_kind, want = _outcome(user, make())
    x = make()
    got_kind, got = _outcome(decorated, x)
    assert len(calls) == 1  # the model ran exactly once
    assert got_kind == want_kind
    if got_kind == "raised":
        assert type(got) is type(want) and got.args == want.args
    elif user is identity:
        assert got is x  # the very same object
    else:
        assert _same(got, want)
    flush()  # the worker must absorb whatever it got, without raising


def test_internal_failures_are_counted_not_raised(
    telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader = InMemoryMetricReader()
    errors = InternalErrors(meter_provider=MeterProvider(metric_readers=[reader]))
    telemetry.runtime = Runtime(errors=errors)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("sketching failed")

    monkeypatch.setattr(_batch, "capture", broken)
    monkeypatch.setattr(_batch, "interpret", broken)
    out = np.ones(100)

    @otel_ml.monitor(model="m", **telemetry.kwargs())  # type: ignore[arg-type]
    def predict(x: Any) -> np.ndarray:
        return out

    for _ in range(3):
        assert predict(np.zeros((100, 3))) is out
    assert predict(BadList([1])) is out  # batch_size fails: counted, call unmonitored
    assert errors.counts[("features", "RuntimeError")] == 3
    assert errors.counts[("outputs", "RuntimeError")] == 3
    assert errors.counts[("record", "RuntimeError")] == 1
    data = reader.get_metrics_data()
    assert data is not None
    points = {
        (p.attributes[semconv.INTERNAL_STAGE], p.attributes[semconv.ERROR_TYPE]): p.value
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == semconv.METRIC_INTERNAL_ERRORS
        for p in m.data.data_points  # type: ignore[union-attr]
    }
    assert points == {
        ("features", "RuntimeError"): 3,
        ("outputs", "RuntimeError"): 3,
        ("record", "RuntimeError"): 1,
    }
    # The prediction events still went out (ids, no values).
    assert len(telemetry.calls()) == 3


def test_a_million_distinct_categories_in_one_call(telemetry: Telemetry) -> None:
    cities = np.char.add("c", np.arange(1_000_000).astype(str))
    df = pd.DataFrame({"city": cities, "x": np.arange(1_000_000, dtype=float)})
    out = np.zeros(1_000_000)

    @otel_ml.monitor(model="big", **telemetry.kwargs())  # type: ignore[arg-type]
    def predict(frame: pd.DataFrame) -> np.ndarray:
        return out

    assert predict(df) is out
    w = telemetry.consumer.collect().windows[_monitor.ModelKey("big", "unknown")]
    sketch = w.categorical["city"]
    assert len(sketch.counts) <= 100 and sketch.total == 1_000_000
    # 10⁶ ids in 8 KiB records, up to the byte budget; the rest dropped and counted.
    delivered = sum(len(c[semconv.ML_PREDICTION_IDS]) for c in telemetry.calls())
    dropped = telemetry.runtime.events.dropped[("big", "unknown")]
    assert delivered > 100_000 and delivered + dropped == 1_000_000


def _iterate(it: Iterator[float]) -> list[float]:
    return list(it)


def test_generators_are_never_consumed(telemetry: Telemetry) -> None:
    decorated = otel_ml.monitor(model="gen", **telemetry.kwargs())(_iterate)  # type: ignore[arg-type]
    assert decorated(float(i) for i in range(5)) == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_hostile_values_are_counted_on_the_self_metric(telemetry: Telemetry) -> None:
    errors = InternalErrors()
    telemetry.runtime = Runtime(errors=errors)
    decorated = otel_ml.monitor(model="h", **telemetry.kwargs())(identity)  # type: ignore[arg-type]
    row = {"age": 3.0, Hostile(): 1}  # a column name that cannot become a string
    assert decorated(row) is row
    flush()
    assert errors.counts[("features", "RuntimeError")] == 1
