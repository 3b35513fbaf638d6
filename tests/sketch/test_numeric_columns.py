"""update_many (the SDK's capture of a 2-D batch) gives the sketches one update per
column gives, bucket for bucket, whatever the columns hold."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from otel_ml.sketch import NumericSketch
from otel_ml.sketch._numeric_columns import update_many

any_floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
blocks = hnp.arrays(
    np.float64,
    st.tuples(st.integers(1, 40), st.integers(1, 6)),
    elements=st.one_of(any_floats, st.sampled_from([0.0, -0.0, 1.0, -2.0, 0.5, 1e-300])),
)


def _apart(block: np.ndarray, before: list[np.ndarray] | None) -> list[NumericSketch]:
    out = []
    for j in range(block.shape[1]):
        s = NumericSketch()
        if before is not None:
            s.update(before[j])
        s.update(block[:, j])
        out.append(s)
    return out


def _together(block: np.ndarray, before: list[np.ndarray] | None) -> list[NumericSketch]:
    out = []
    for j in range(block.shape[1]):
        s = NumericSketch()
        if before is not None:
            s.update(before[j])
        out.append(s)
    update_many(out, block.T)
    return out


@settings(max_examples=200, deadline=None)
@given(blocks, st.booleans(), st.integers(0, 2**32 - 1))
def test_the_same_sketches_as_one_update_per_column(
    block: np.ndarray, steady: bool, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    before = [rng.normal(0, 10, 50) for _ in range(block.shape[1])] if steady else None
    # equal to_dict: scale, offsets, bucket counts, count, sum, extremes, zero/NaN/inf counts
    assert [s.to_dict() for s in _together(block, before)] == [
        s.to_dict() for s in _apart(block, before)
    ]


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
def test_a_realistic_batch_and_its_dtypes(dtype: type) -> None:
    rng = np.random.default_rng(1)
    block = np.column_stack(
        [rng.normal(size=5000), rng.lognormal(size=5000), -rng.lognormal(size=5000),
         np.zeros(5000), rng.poisson(2.0, 5000), rng.uniform(-1e6, 1e6, 5000)]  # fmt: skip
    ).astype(dtype)
    assert [s.to_dict() for s in _together(block, None)] == [
        s.to_dict() for s in _apart(block, None)
    ]


def test_a_block_that_does_not_fit_the_sketches_is_refused() -> None:
    with pytest.raises(ValueError, match="2 sketches for values of shape"):
        update_many([NumericSketch(), NumericSketch()], np.zeros((3, 3)))


def test_the_sdk_capture_of_a_small_batch_keeps_order_sketches_and_quality_counts() -> None:
    """The SDK sketches short numeric columns together: the same sketches and quality
    counts (missing, non-finite, out of the reference's range) as one column at a time."""
    from otel_ml import semconv
    from otel_ml.instrumentation._features import capture
    from otel_ml.instrumentation._inputs import to_table
    from otel_ml.instrumentation._options import MonitorOptions
    from otel_ml.sketch import Profile

    rng = np.random.default_rng(2)
    reference = Profile.from_data(rng.normal(size=(500, 4)), feature_names=list("abcd"))
    batch = rng.normal(0, 2, size=(64, 4))
    batch[3, 1], batch[5, 2], batch[6, 2] = np.nan, np.inf, -np.inf
    w = capture(to_table(batch, names=list("abcd")), MonitorOptions(model="m"), reference)
    assert list(w.numeric) == list("abcd")
    assert [w.numeric[n].to_dict() for n in "abcd"] == [
        s.to_dict() for s in _apart(batch, None)
    ]
    for j, name in enumerate("abcd"):
        x = batch[:, j]
        lo, hi = reference.features[name].min, reference.features[name].max
        finite = x[np.isfinite(x)]
        assert w.quality.get((name, semconv.QUALITY_OUT_OF_RANGE), 0) == np.count_nonzero(
            (finite < lo) | (finite > hi)
        )
    assert w.quality[("b", semconv.QUALITY_MISSING)] == 1
    assert w.quality[("c", semconv.QUALITY_NON_FINITE)] == 2
