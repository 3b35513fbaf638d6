"""Input adapters (numpy, pandas, dicts, lists, polars, pyarrow) and output reading."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from otel_ml.instrumentation._inputs import batch_size, examine, tables_from_snapshots, to_table
from otel_ml.instrumentation._options import Task
from otel_ml.instrumentation._outputs import SCORE_OUTPUT, interpret

COLUMNS = {"age": [30.0, 41.0, np.nan], "city": ["paris", "lyon", None]}


def _as_dict(t: object) -> dict[str, list[object]]:
    assert t is not None
    return {n: list(c) for n, c in zip(t.names, t.columns, strict=True)}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "inputs",
    [
        pd.DataFrame(COLUMNS),
        pl.DataFrame(COLUMNS, strict=False),
        pa.table(COLUMNS),
        [{"age": 30.0, "city": "paris"}, {"age": 41.0, "city": "lyon"}, {"age": np.nan}],
        {"age": np.array(COLUMNS["age"]), "city": COLUMNS["city"]},
    ],
    ids=["pandas", "polars", "pyarrow", "list_of_dicts", "dict_of_columns"],
)
def test_tables_from_every_supported_container(inputs: object) -> None:
    assert batch_size(inputs) == 3
    t = _as_dict(to_table(inputs))
    assert t["age"][:2] == [30.0, 41.0] and np.isnan(t["age"][2])  # type: ignore[arg-type]
    missing = t["city"][2]
    assert t["city"][:2] == ["paris", "lyon"] and (missing is None or missing != missing)


def test_numpy_rows_columns_and_names() -> None:
    x = np.arange(6.0).reshape(2, 3)
    assert _as_dict(to_table(x, names=("a", "b", "c")))["b"] == [1.0, 4.0]
    assert to_table(x, names=("a", "b")).unreadable_rows == 2  # type: ignore[union-attr]
    assert to_table(np.array([1.0, 2.0])).n_rows == 1  # type: ignore[union-attr]
    col = to_table(np.array([1.0, 2.0]), one_dimensional_as_row=False)
    assert col is not None and col.n_rows == 2 and col.names == ["f0"]
    rec = np.array([(1, 2.5)], dtype=[("n", "i4"), ("v", "f8")])
    assert _as_dict(to_table(rec)) == {"n": [1], "v": [2.5]}
    assert to_table(np.zeros((2, 2, 2))).unreadable_rows == 2  # type: ignore[union-attr]


def test_series_is_one_row_and_unknown_types_are_left_alone() -> None:
    s = pd.Series({"age": 3.0, "city": "x"})
    assert batch_size(s) == 1 and _as_dict(to_table(s)) == {"age": [3.0], "city": ["x"]}
    gen = (i for i in range(3))
    assert to_table(gen) is None and batch_size(gen) == 0
    assert list(gen) == [0, 1, 2]  # not consumed
    assert to_table([[1, 2], [3]]).unreadable_rows == 2  # type: ignore[union-attr]


def test_small_inputs_are_copied_and_grouped() -> None:
    row = {"a": 1.0, "b": "x"}
    _, snap = examine(row)
    row["a"] = 99.0  # the caller mutating its dict later does not change what we saw
    arr = np.ones((1, 2))
    _, snap2 = examine(arr)
    arr[0, 0] = 5.0
    tables = tables_from_snapshots([snap, snap, snap2], names=None, id_column=None)  # type: ignore[list-item]
    by_names = {tuple(t.names): t for t in tables}
    assert by_names[("a", "b")].columns[0].tolist() == [1.0, 1.0]
    assert by_names[("f0", "f1")].columns[0].tolist() == [1.0]
    assert examine(np.ones((100, 2))) == (100, None)  # big: processed on the calling thread


def test_outputs_labels_probabilities_scores_values() -> None:
    o = interpret(np.array(["yes", "no"]), Task.AUTO, None)
    assert o.labels.tolist() == ["yes", "no"] and not o.scores  # type: ignore[union-attr]
    o = interpret(np.array([[0.2, 0.5, 0.3]]), Task.MULTICLASS_CLASSIFICATION, ("a", "b", "c"))
    assert o.labels.tolist() == ["b"] and o.values is None and set(o.scores) == {"a", "b", "c"}  # type: ignore[union-attr]
    o = interpret(pd.Series([0.1, 0.7]), Task.BINARY_CLASSIFICATION, None)
    assert o.values.tolist() == [0.1, 0.7] and SCORE_OUTPUT in o.scores  # type: ignore[union-attr]
    o = interpret(np.array([1.0, 0.0]), Task.BINARY_CLASSIFICATION, None)
    assert o.labels.tolist() == ["1", "0"]  # type: ignore[union-attr]
    o = interpret(np.array([3, 4]), Task.REGRESSION, None)
    assert o.values.tolist() == [3.0, 4.0]  # type: ignore[union-attr]
    o = interpret(np.array([True, False]), Task.AUTO, None)
    assert o.labels.tolist() == ["True", "False"]  # type: ignore[union-attr]
    assert interpret(object(), Task.AUTO, None).scores == {}
    assert interpret(2.5, Task.REGRESSION, None).values.tolist() == [2.5]  # type: ignore[union-attr]


def test_one_dimensional_text_is_a_batch_of_documents_described_by_length() -> None:
    docs = ["short", "a longer one", None, b"bytes!"]
    for inputs in (docs, tuple(docs), np.array(docs, dtype=object)):
        assert batch_size(inputs) == 4  # not one row of four categorical features
        t = to_table(inputs)
        assert t is not None and t.names == ["text.length"]
        assert t.columns[0].tolist()[:2] == [5.0, 12.0] and np.isnan(t.columns[0][2])
    assert batch_size(np.array(["a", "bc"])) == 2
    snaps = [examine(["ab", "c"])[1], examine(np.array(["xyz"]))[1]]
    (t,) = tables_from_snapshots(snaps, names=("f",), id_column=None)  # type: ignore[arg-type]
    assert t.names == ["text.length"] and t.columns[0].tolist() == [2.0, 1.0, 3.0]
    # Numbers stay one row; a Series is a row, or a batch when 1-D inputs are batches.
    assert batch_size([1.0, 2.0]) == 1 and batch_size([None, 2.0]) == 1
    assert batch_size(pd.Series({"age": 3.0, "city": "x"})) == 1
    series = pd.Series(["doc one", "doc two", "doc three"])
    assert batch_size(series, one_dimensional_as_row=False) == 3
    assert to_table(series, one_dimensional_as_row=False).names == ["text.length"]  # type: ignore[union-attr]
    with_na = pd.Series(["doc one", pd.NA, "three"], dtype="string")  # pandas.NA is missing
    lengths = to_table(with_na, one_dimensional_as_row=False)
    assert lengths is not None and lengths.names == ["text.length"]
    assert lengths.columns[0][0] == 7.0 and np.isnan(lengths.columns[0][1])
    numbers = to_table(pd.Series([1.0, 2.0]), one_dimensional_as_row=False)
    assert numbers is not None and numbers.n_rows == 2 and numbers.names == ["f0"]
