"""Multivariate drift: the PCA reconstruction model (sketch layer) and its verdict (stats)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from otel_ml._errors import SketchError
from otel_ml.sketch import NumericSketch, Profile
from otel_ml.sketch._multivariate import ReconstructionModel
from otel_ml.stats import DriftPolicy, DriftReport, MultivariateDrift, compare, multivariate_drift


def _table(n: int, rho: float, seed: int, *, extra: int = 3) -> dict[str, np.ndarray]:
    """Two features with correlation ``rho`` and ``extra`` independent ones."""
    rng = np.random.default_rng(seed)
    a = rng.normal(10, 2, n)
    z = (a - 10) / 2
    b = 5 + 3 * (rho * z + np.sqrt(1 - rho**2) * rng.normal(size=n))
    cols = {"a": a, "b": b}
    for i in range(extra):
        cols[f"x{i}"] = rng.exponential(1 + i, n)
    return cols


@pytest.fixture(scope="module")
def reference() -> Profile:
    return Profile.from_data(_table(30_000, 0.8, 0))


def test_the_model_is_a_pca_of_the_standardised_features_as_sklearn_computes_it() -> None:
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    cols = _table(5_000, 0.7, 1)
    x = np.column_stack(list(cols.values()))
    m = ReconstructionModel.fit(cols)
    assert m is not None
    z = StandardScaler().fit_transform(x)
    pca = PCA(n_components=m.n_components).fit(z)
    # The same components (up to sign), the fewest that reach the share of the variance.
    assert np.allclose(np.abs(pca.components_ @ m.components.T), np.eye(m.n_components), atol=1e-8)
    full = PCA().fit(z).explained_variance_ratio_.cumsum()
    before = full[m.n_components - 2] if m.n_components > 1 else 0.0
    assert full[m.n_components - 1] >= m.variance > before
    expected = np.linalg.norm(z - pca.inverse_transform(pca.transform(z)), axis=1)
    assert np.allclose(m.errors(cols), expected, atol=1e-9)
    assert m.reference_errors.count == 5_000
    assert m.reference_errors.mean == pytest.approx(expected.mean(), rel=1e-9)


def test_missing_and_non_finite_values_take_the_reference_mean() -> None:
    cols = _table(2_000, 0.8, 2)
    m = ReconstructionModel.fit(cols)
    assert m is not None
    row = {n: np.array([v[0]]) for n, v in cols.items()}
    row["a"] = np.array([np.nan])
    imputed = {**row, "a": np.array([m.means[0]])}
    assert m.errors(row) == pytest.approx(m.errors(imputed))
    row["a"] = np.array([np.inf])
    assert m.errors(row) == pytest.approx(m.errors(imputed))
    objects = {**row, "a": np.array([None], dtype=object)}
    assert m.errors(objects) == pytest.approx(m.errors(imputed))


def test_no_model_without_two_varying_numeric_features_or_enough_rows() -> None:
    assert ReconstructionModel.fit({"a": np.arange(1000.0)}) is None
    assert ReconstructionModel.fit({"a": np.arange(1000.0), "b": np.ones(1000)}) is None
    assert ReconstructionModel.fit({"a": np.arange(50.0), "b": np.arange(50.0) ** 2}) is None
    p = Profile.from_data({"a": np.arange(500.0), "c": ["x", "y"] * 250})
    assert p.multivariate is None
    assert Profile.from_data(_table(500, 0.5, 3), multivariate=False).multivariate is None


def test_two_features_keep_one_component_and_never_all() -> None:
    rng = np.random.default_rng(4)
    m = ReconstructionModel.fit({"a": rng.normal(size=1000), "b": rng.normal(size=1000)})
    assert m is not None and m.n_components == 1  # 50 % each: one direction left out


def test_profile_json_round_trip_and_older_versions_load(reference: Profile, tmp_path) -> None:
    path = tmp_path / "p.json"
    reference.save(path)
    raw = json.loads(path.read_text())
    assert raw["format_version"] == 2
    assert raw["multivariate"]["method"] == "pca_reconstruction_error"
    back = Profile.load(path)
    assert back.multivariate == reference.multivariate
    cols = _table(300, 0.8, 5)
    assert np.array_equal(back.multivariate.errors(cols), reference.multivariate.errors(cols))
    # A version-1 profile (no section) still loads, without a model.
    del raw["multivariate"]
    raw["format_version"] = 1
    path.write_text(json.dumps(raw))
    assert Profile.load(path).multivariate is None


def test_a_corrupt_section_is_a_profile_error(reference: Profile, tmp_path) -> None:
    from otel_ml import ProfileError

    raw = reference.to_dict()
    raw["multivariate"]["components"] = [[1.0]]
    with pytest.raises(ProfileError, match="corrupt profile"):
        Profile.from_dict(raw)


def test_a_missing_feature_is_named() -> None:
    m = ReconstructionModel.fit(_table(1_000, 0.8, 6))
    assert m is not None
    with pytest.raises(SketchError, match="'b'"):
        m.errors({"a": np.zeros(3)})


def test_the_correlation_flip_is_caught_and_unchanged_data_is_not(reference: Profile) -> None:
    for n in (1_000, 10_000):
        for seed in range(10, 15):
            same = compare(reference, _table(n, 0.8, seed))
            assert same.multivariate is not None and not same.multivariate.drifted
            assert not same.drifted
            flipped = _table(n, -0.8, seed)
            report = compare(reference, flipped)
            # Each marginal is unchanged: only the multivariate check sees it.
            assert report.n_drifted == 0
            assert report.multivariate is not None and report.multivariate.drifted
            assert report.drifted
            assert report.multivariate.mean_error > 1.3 * report.multivariate.reference_mean_error


def test_the_verdict_follows_the_policy(reference: Profile) -> None:
    model = reference.multivariate
    assert model is not None
    flip = model.error_sketch(_table(2_000, -0.8, 20))
    assert multivariate_drift(model, flip).drifted
    assert not multivariate_drift(model, flip, policy=DriftPolicy(numeric_threshold=50.0)).drifted
    few = model.error_sketch(_table(50, -0.8, 21))
    mv = multivariate_drift(model, few)
    assert not mv.drifted and "not enough data" in mv.reason


def test_report_json_round_trip(reference: Profile) -> None:
    report = compare(reference, _table(1_000, -0.8, 30))
    d = report.to_dict()
    assert set(d["multivariate"]) >= {"drifted", "statistic", "threshold", "method"}
    assert DriftReport.from_dict(json.loads(json.dumps(d))) == report
    mv = report.multivariate
    assert mv is not None and MultivariateDrift.from_dict(mv.to_dict()) == mv
    # A report without the check reads as before.
    d.pop("multivariate")
    assert DriftReport.from_dict(d).multivariate is None


def test_a_current_profile_needs_the_error_sketch(reference: Profile) -> None:
    cols = _table(1_000, -0.8, 40)
    cur = Profile.from_data(cols, multivariate=False)
    assert compare(reference, cur).multivariate is None
    errors = reference.multivariate.error_sketch(cols)
    assert compare(reference, cur, reconstruction_errors=errors).multivariate.drifted
    # Raw data lacking a feature of the model: no multivariate verdict.
    del cols["x1"]
    assert compare(reference, cols).multivariate is None


finite = st.floats(-1e6, 1e6, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float64, st.tuples(st.integers(1, 40), st.just(4)),
           elements=st.one_of(finite, st.just(np.nan), st.just(np.inf))),
    st.permutations(range(4)),
)
def test_errors_are_non_negative_finite_and_do_not_depend_on_column_order(
    rows: np.ndarray, order: list[int]
) -> None:
    model = _MODEL
    names = list(model.features)
    cols = {names[j]: rows[:, j] for j in range(4)}
    e = model.errors(cols)
    assert e.shape == (rows.shape[0],)
    assert np.isfinite(e).all() and (e >= 0).all()
    shuffled = {names[j]: rows[:, j] for j in order}
    shuffled["unrelated"] = np.zeros(rows.shape[0])
    assert np.array_equal(model.errors(shuffled), e)
    # Rows are independent: errors of a part are the part of the errors.
    k = rows.shape[0] // 2
    assert np.allclose(model.errors({n: c[:k] for n, c in cols.items()}), e[:k])


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 6))
def test_a_reference_row_on_the_kept_components_has_no_error(seed: int, d: int) -> None:
    rng = np.random.default_rng(seed)
    cols = {f"f{i}": rng.normal(size=300) * (i + 1) for i in range(d)}
    m = ReconstructionModel.fit(cols)
    assert m is not None and 1 <= m.n_components < d
    # A standardised point on the span of the components reconstructs exactly (up to
    # the rounding of |z|^2 - |z C^T|^2, ~1e-8 of |z| after the square root).
    z = rng.normal(size=m.n_components) @ m.components
    x = {n: np.array([m.means[i] + z[i] * m.scales[i]]) for i, n in enumerate(m.features)}
    assert m.errors(x)[0] <= 1e-7 * max(1.0, float(np.linalg.norm(z)))
    # And the error of any row is at most its standardised norm.
    row = {n: c[:20] for n, c in cols.items()}
    zs = np.column_stack([(row[n] - m.means[i]) / m.scales[i] for i, n in enumerate(m.features)])
    assert (m.errors(row) <= np.linalg.norm(zs, axis=1) + 1e-9).all()


def _model() -> ReconstructionModel:
    rng = np.random.default_rng(7)
    s = rng.normal(size=2_000)
    cols = {"p": s + rng.normal(0, 0.5, 2_000), "q": rng.normal(size=2_000),
            "r": -s + rng.normal(0, 0.5, 2_000), "s": rng.uniform(0, 5, 2_000)}
    m = ReconstructionModel.fit(cols)
    assert m is not None
    return m


_MODEL = _model()


def test_the_reference_sketch_is_a_numeric_sketch_of_every_row() -> None:
    cols = _table(70_000, 0.8, 50, extra=1)
    m = ReconstructionModel.fit(cols, max_fit_rows=10_000)
    assert m is not None and m.n_fit_rows == 10_000
    assert isinstance(m.reference_errors, NumericSketch) and m.reference_errors.count == 70_000


def test_the_share_of_variance_is_an_option_stored_in_the_section(tmp_path) -> None:
    from otel_ml._errors import ConfigurationError

    cols = _table(5_000, 0.8, 7, extra=6)
    low = Profile.from_data(cols, multivariate_variance=0.3)
    high = Profile.from_data(cols, multivariate_variance=0.95)
    assert low.multivariate is not None and high.multivariate is not None
    assert low.multivariate.variance == 0.3 and high.multivariate.variance == 0.95
    assert low.multivariate.n_components < high.multivariate.n_components
    assert sum(high.multivariate.explained) >= 0.95 > sum(high.multivariate.explained[:-1])
    high.save(tmp_path / "p.json")
    assert json.loads((tmp_path / "p.json").read_text())["multivariate"]["variance"] == 0.95
    assert Profile.load(tmp_path / "p.json").multivariate == high.multivariate
    for bad in (0, 1, 1.5, -0.2, float("nan"), True, "0.8", None):
        with pytest.raises(ConfigurationError, match=r"^multivariate_variance: must be a number"):
            Profile.from_data(cols, multivariate_variance=bad)  # type: ignore[arg-type]


def test_errors_in_chunks_are_the_errors_of_the_whole_table_by_one_formula() -> None:
    """Past every chunk boundary (row_errors' BLAS-sized steps, error_sketch's 4,096-row
    blocks), with missing and infinite values and a column of numbers as text: the errors
    are ``|z - z C'C|`` of the whole table at once (z at 0 where a value is missing), and
    the sketch holds every row."""
    from otel_ml.sketch import _multivariate as mv

    rng = np.random.default_rng(21)
    n = 5 * mv._CHUNK_ROWS + 17
    f = rng.normal(size=n)
    cols: dict[str, np.ndarray] = {
        f"g{i}": 0.8 * f + 0.6 * rng.normal(size=n) + i for i in range(12)
    }
    m = ReconstructionModel.fit(cols)
    assert m is not None
    step = mv._SINGLE_THREAD_WORK // (m.n_components * len(m.features))
    assert step < n and n % step and n % mv._CHUNK_ROWS  # ragged last chunks of both
    cols["g0"][::97] = np.nan
    cols["g1"][5::101] = np.inf
    cols["g2"][7::89] = -np.inf
    as_text = {**cols, "g3": np.array([repr(float(v)) for v in cols["g3"]], dtype=object)}
    x = np.column_stack([cols[name] for name in m.features])
    z = (x - m.means) / m.scales
    z[~np.isfinite(z)] = 0.0
    want = np.linalg.norm(z - z @ m.components.T @ m.components, axis=1)
    assert np.allclose(m.errors(cols), want, rtol=1e-9, atol=1e-9)
    assert np.allclose(m.errors(as_text), want, rtol=1e-9, atol=1e-9)
    s = m.error_sketch(cols)
    assert s.count == n and s.sum == pytest.approx(want.sum(), rel=1e-9)
    assert s.min == pytest.approx(want.min()) and s.max == pytest.approx(want.max())


def test_rows_next_to_the_components_are_computed_directly() -> None:
    """|z|^2 - |zC'|^2 loses every digit for a row almost on the kept components; such
    rows take the residual itself (exact fallback), so their small errors stay exact."""
    m = ReconstructionModel(("a", "b"), np.zeros(2), np.ones(2), np.array([[0.6, 0.8]]),
                            (0.9,), NumericSketch())
    off = 1e-7  # a row 1e-7 off the component, at distance 1e4 from the mean
    row = 1e4 * np.array([0.6, 0.8]) + off * np.array([0.8, -0.6])
    got = m.row_errors(row[None, :])[0]
    assert got == pytest.approx(off, rel=1e-3)  # the subtraction alone gives 0 or ~1e-4


def test_the_check_is_held_to_the_level_of_one_feature_of_the_model(reference: Profile) -> None:
    """alpha / the model's features (Bonferroni, as one feature of such a window): a
    p-value between that and alpha is not drift; below it, it is."""
    model = reference.multivariate
    assert model is not None and len(model.features) == 5
    errors = model.error_sketch(_table(3_000, 0.6, 31))  # weakened: a p-value of its own
    p = multivariate_drift(model, errors).p_value
    assert 0.0 < p < 0.2
    between = DriftPolicy(alpha=2.0 * p, numeric_threshold=0.0)  # alpha / 5 < p < alpha
    got = multivariate_drift(model, errors, policy=between)
    assert not got.drifted and got.alpha == pytest.approx(2.0 * p / 5)
    assert got.to_dict()["alpha"] == got.alpha == MultivariateDrift.from_dict(got.to_dict()).alpha
    below = DriftPolicy(alpha=6.0 * p, numeric_threshold=0.0)  # p < alpha / 5
    assert multivariate_drift(model, errors, policy=below).drifted


def test_the_error_sketch_of_a_huge_table_holds_one_chunk_at_a_time() -> None:
    """Memory bounded in bytes whatever the rows: a 200,000-row table (numbers, and a
    column of numbers as text) costs a few chunks of copies, never a copy of the table."""
    import tracemalloc

    rng = np.random.default_rng(5)
    n = 200_000
    f = rng.normal(size=n)
    cols: dict[str, np.ndarray] = {f"g{i}": f + rng.normal(size=n) for i in range(8)}
    m = ReconstructionModel.fit({k: v[:5_000] for k, v in cols.items()})
    assert m is not None
    cols["g0"] = cols["g0"].astype(object)  # read as numbers chunk by chunk
    table_bytes = 8 * n * len(cols)  # 12.8 MB of float64
    tracemalloc.start()
    try:
        s = m.error_sketch(cols)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert s.count == n
    assert peak < 1_500_000 < table_bytes / 8, peak  # ~0.9 MB; a column copy: 1.6 MB more
