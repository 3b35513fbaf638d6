"""scipy.sparse inputs read from their stored entries: the same window as the dense matrix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse

from otel_ml import semconv
from otel_ml.instrumentation._features import capture
from otel_ml.instrumentation._inputs import batch_size, examine, tables_from_snapshots, to_table
from otel_ml.instrumentation._options import MonitorOptions
from otel_ml.sketch import Profile

NAMES = ("a", "b", "c", "d", "e")


def _matrix(seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    dense = rng.normal(2.0, 3.0, size=(n, len(NAMES))) * (rng.random((n, len(NAMES))) < 0.3)
    dense[rng.random((n, len(NAMES))) < 0.02] = np.nan
    dense[0, 1], dense[1, 2] = np.inf, -np.inf
    dense[:, 4] = np.abs(dense[:, 4]) + 1.0  # never zero: zeros out of the reference range
    return dense


def _window_as_data(window):
    """Sketches and counts; sums to 12 digits (the entries are added in another order)."""
    numeric = {
        k: {**s.to_dict(), "sum": float(f"{s.sum:.12g}")} for k, s in window.numeric.items()
    }
    return numeric, {k: v for k, v in window.quality.items() if v}


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("with_reference", [False, True])
def test_sparse_capture_equals_the_dense_capture(seed, with_reference):
    reference = None
    if with_reference:
        ref = pd.DataFrame(_matrix(100 + seed, 400), columns=list(NAMES)).drop(columns=["d"])
        reference = Profile.from_data(ref.assign(z=1.0))  # a column the input lacks
    options = MonitorOptions(model="m", exclude_features=["c"])
    dense = _matrix(seed, 200)
    expected = capture(to_table(dense, names=NAMES), options, reference)  # type: ignore[arg-type]
    for fmt in (scipy.sparse.csr_matrix, scipy.sparse.csc_array, scipy.sparse.coo_matrix):
        table = to_table(fmt(dense), names=NAMES)
        assert table is not None and table.sparse is not None and table.n_rows == 200
        got = capture(table, options, reference)
        assert _window_as_data(got) == _window_as_data(expected)


def test_small_sparse_calls_are_copied_and_read_together():
    dense = _matrix(9, 10)
    m = scipy.sparse.csr_matrix(dense)
    n, snap = examine(m)
    m.data[:] = 0.0  # the caller reusing its matrix later does not change what we saw
    n2, snap2 = examine(scipy.sparse.csr_matrix(dense[:3]))
    assert (n, n2) == (10, 3) and batch_size(m) == 10
    (table,) = tables_from_snapshots([snap, snap2], names=NAMES, id_column=None)  # type: ignore[list-item]
    got = capture(table, MonitorOptions(model="m"), None)
    both = np.concatenate([dense, dense[:3]])
    expected = capture(to_table(both, names=NAMES), MonitorOptions(model="m"), None)  # type: ignore[arg-type]
    assert _window_as_data(got) == _window_as_data(expected)


def test_duplicate_entries_are_summed_without_touching_the_users_matrix():
    coo = scipy.sparse.coo_matrix(([1.0, 2.0, 5.0], ([0, 0, 1], [0, 0, 1])), shape=(3, 2))
    before = (coo.row.copy(), coo.col.copy(), coo.data.copy())
    table = to_table(coo)
    w = capture(table, MonitorOptions(model="m"), None)  # type: ignore[arg-type]
    assert w.numeric["f0"].sum == 3.0 and w.numeric["f0"].zero_count == 2
    after = (coo.row, coo.col, coo.data)
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))


def test_wrong_width_and_non_numeric_sparse_inputs_are_counted():
    m = scipy.sparse.csr_matrix(np.eye(3))
    w = capture(to_table(m, names=("x", "y")), MonitorOptions(model="m"), None)  # type: ignore[arg-type]
    assert w.quality[("", semconv.QUALITY_SCHEMA_MISMATCH)] == 3
    assert set(w.numeric) == {"f0", "f1", "f2"}
    complex_values = scipy.sparse.csr_matrix(np.array([[1j, 0], [0, 2 + 1j]]))
    t = to_table(complex_values)
    assert t is not None and t.unreadable_rows == 2 and t.n_rows == 2
