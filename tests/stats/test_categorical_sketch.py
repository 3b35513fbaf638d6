"""CategoricalSketch: exact counts, bounded memory, merge."""

from __future__ import annotations

import collections
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_ml import SketchError
from otel_ml.sketch import CategoricalSketch
from otel_ml.sketch._categorical import category_text

values = st.lists(
    st.one_of(st.sampled_from("abcdefgh"), st.none(), st.integers(0, 5)), max_size=200
)


def sketch_of(*cols: object, k: int = 100) -> CategoricalSketch:
    s = CategoricalSketch(max_categories=k)
    for c in cols:
        s.update(c)  # type: ignore[arg-type]
    return s


@given(values)
def test_counts_are_exact_when_values_fit(xs: list[object]) -> None:
    s = sketch_of(np.array(xs, dtype=object))
    expected = collections.Counter(str(v) for v in xs if v is not None)
    assert s.counts == dict(expected)
    assert s.missing_count == sum(v is None for v in xs)
    assert s.overflow == 0 and s.total == len(xs)


@given(values, values, values)
@settings(max_examples=100)
def test_merge_commutative_and_associative_when_values_fit(
    x: list[object], y: list[object], z: list[object]
) -> None:
    a, b, c = (sketch_of(np.array(v, dtype=object)) for v in (x, y, z))
    ab = a.copy()
    ab.merge(b)
    ba = b.copy()
    ba.merge(a)
    assert ab.to_dict() == ba.to_dict()
    left = ab.copy()
    left.merge(c)
    bc = b.copy()
    bc.merge(c)
    right = a.copy()
    right.merge(bc)
    assert left.to_dict() == right.to_dict()


@given(st.lists(st.integers(0, 40), max_size=300), st.integers(1, 10))
def test_total_exact_and_size_bounded_under_eviction(xs: list[int], k: int) -> None:
    half = len(xs) // 2
    s = sketch_of(np.array(xs[:half]), np.array(xs[half:]), k=k)
    assert len(s.counts) <= k
    assert s.total == len(xs)
    true = collections.Counter(str(v) for v in xs)
    for key, n in s.counts.items():
        assert n <= true[key]  # kept counts are exact lower bounds


@given(
    st.lists(st.lists(st.one_of(st.integers(0, 30), st.none()), max_size=80), min_size=2,
             max_size=4),
    st.integers(1, 8),
    st.randoms(),
)
@settings(max_examples=60)
def test_merge_under_eviction_keeps_the_total_exact(
    parts: list[list[object]], k: int, rnd: object
) -> None:
    """Merging sketches that each evicted values: nothing lost, nothing counted twice."""
    singles = [sketch_of(np.array(p, dtype=object), k=k) for p in parts]
    rnd.shuffle(singles)  # type: ignore[attr-defined]
    merged = CategoricalSketch(max_categories=k)
    for s in singles:
        merged.merge(s)
    flat = [v for p in parts for v in p]
    assert merged.total == len(flat)
    assert merged.missing_count == sum(v is None for v in flat)
    assert len(merged.counts) <= k
    true = collections.Counter(str(v) for v in flat if v is not None)
    for key, n in merged.counts.items():
        assert n <= true[key]
    # Two-way merges stay commutative under eviction (ties broken by value).
    ab, ba = singles[0].copy(), singles[1].copy()
    ab.merge(singles[1])
    ba.merge(singles[0])
    assert ab.to_dict() == ba.to_dict()


def test_most_frequent_values_survive_a_flood_of_distinct_values() -> None:
    s = CategoricalSketch(max_categories=10)
    s.update(["common"] * 5000 + ["rare"] * 10)
    s.update(np.char.add("id-", np.arange(1_000_000).astype(str)))
    assert s.counts["common"] == 5000
    assert len(s.counts) <= 10 and s.total == 1_005_010


def test_memory_stays_bounded_over_one_million_distinct_values() -> None:
    s = CategoricalSketch(max_categories=100)
    # The strings are made before tracing (making them under tracemalloc took 5 s); each
    # batch is copied under tracing (a memcpy), so a sketch keeping it would be seen.
    chunks = np.split(np.char.add("u-", np.arange(1_000_000).astype(str)), 20)
    tracemalloc.start()
    for chunk in chunks:
        s.update(chunk.copy())
    snapshot_current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(s.counts) <= 100 and s.total == 1_000_000
    # What the sketch keeps between updates is tiny; the peak is one batch's np.unique.
    assert snapshot_current < 200_000
    assert peak < 40_000_000


def test_numbers_booleans_and_missing_values() -> None:
    s = sketch_of(np.array([1.0, 1, 2.5, np.nan]), np.array([True, False, True]))
    assert s.counts == {"1": 2, "2.5": 1, "True": 2, "False": 1}
    assert s.missing_count == 1


def test_dict_round_trip_and_bad_input() -> None:
    s = sketch_of(["x", "y", "y", None], k=5)
    assert CategoricalSketch.from_dict(s.to_dict()).to_dict() == s.to_dict()
    with pytest.raises(SketchError):
        CategoricalSketch.from_dict({"counts": {"a": -1}})
    with pytest.raises(SketchError):
        CategoricalSketch.from_dict({"nope": 1})
    with pytest.raises(SketchError, match="max_categories"):
        CategoricalSketch(max_categories=3).merge(CategoricalSketch(max_categories=4))


def _one_by_one(values: list[object]) -> tuple[dict[str, int], int]:
    """The definition the hashed count must match: category_text of every non-missing cell."""
    counts: collections.Counter[str] = collections.Counter()
    missing = 0
    for v in values:
        if v is None or (isinstance(v, float) and v != v):
            missing += 1
        else:
            counts[category_text(v)] += 1
    return dict(counts), missing


_CELLS = st.one_of(
    st.none(),
    st.sampled_from(["a", "b", "1", "True", "", "é"]),
    st.integers(-3, 3),
    st.sampled_from([1.5, float("nan"), -0.25, 0.0, -0.0, 1.0]),
    st.booleans(),
    st.binary(max_size=2),
)


@given(st.lists(_CELLS, max_size=60))
@settings(max_examples=200, deadline=None)
def test_object_columns_count_each_cell_as_its_text(xs: list[object]) -> None:
    """Mixed object columns: 1, 1.0 and "1" are one category, NaN and None are missing."""
    col = np.empty(len(xs), dtype=object)
    col[:] = xs
    s = CategoricalSketch(max_categories=1000)
    s.update(col)
    counts, missing = _one_by_one(xs)
    assert (s.counts, s.missing_count, s.total) == (counts, missing, len(xs))


def test_pandas_missing_markers_and_unhashable_cells() -> None:
    import pandas as pd
    col = np.array([pd.NA, pd.NaT, None, float("nan"), "x", ["l"], ["l"], {"k": 1}], dtype=object)
    s = CategoricalSketch()
    s.update(col)
    assert s.missing_count == 4
    assert s.counts == {"x": 1, "['l']": 2, "{'k': 1}": 1}


def test_strings_and_numbers_count_the_same_way_whatever_the_dtype() -> None:
    words = ["b", "a", "b", "c", "b"]
    as_object, as_unicode = CategoricalSketch(), CategoricalSketch()
    as_object.update(np.array(words, dtype=object))
    as_unicode.update(np.array(words))
    assert as_object.counts == as_unicode.counts == {"a": 1, "b": 3, "c": 1}
    ints, floats = CategoricalSketch(), CategoricalSketch()
    ints.update(np.array([1, 2, 2]))
    floats.update(np.array([1.0, 2.0, 2.0, np.nan]))
    assert ints.counts == floats.counts == {"1": 1, "2": 2}
    assert floats.missing_count == 1


@pytest.mark.parametrize("dtype", ["object", "string", "category"])
def test_pandas_series_count_like_their_numpy_values(dtype: str) -> None:
    import pandas as pd
    cells = ["b", None, "a", "b", float("nan"), "é", "b"]
    series = pd.Series(cells, dtype=dtype)
    from_series, from_numpy = CategoricalSketch(), CategoricalSketch()
    from_series.update(series)
    from_numpy.update(np.array(cells, dtype=object))
    assert from_series.to_dict() == from_numpy.to_dict()
    assert from_series.counts == {"a": 1, "b": 3, "é": 1} and from_series.missing_count == 2
    mixed = pd.Series([0, False, 0.0, "0"], dtype=object)  # equal keys, different text
    s = CategoricalSketch()
    s.update(mixed)
    assert s.counts == {"0": 3, "False": 1}
