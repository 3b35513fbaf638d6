"""The SQLite store: merging, idempotency, the label join in any order, bounds, restart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from evaluator_points import (
    attr_counter,
    batch,
    counter,
    duration_point,
    feature_point,
    outcome,
    prediction,
)

from otel_ml import semconv as sc
from otel_ml.evaluator._store import Store, WriteOutcome
from otel_ml.evaluator._windows import Windowing, WindowKey
from otel_ml.sketch import NumericSketch

W = Windowing(size=60.0, grace=5.0)


def _store(tmp_path: Path, **kw: object) -> Store:
    return Store(tmp_path / "state.db", W, **kw)  # type: ignore[arg-type]


def test_sketches_merge_across_points_and_replicas_and_batches(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    a, b, c = rng.normal(size=300), rng.normal(size=200), rng.normal(size=100)
    st = _store(tmp_path)
    st.write([batch(feature_point("m", "x", a, 10), feature_point("m", "x", b, 20))])
    st.write([batch(feature_point("m", "x", c, 59.5))])
    st.write([batch(feature_point("m", "x", c, 61))])  # next window
    win = st.load_window(WindowKey("m", "1", 0.0, 60.0))
    expect = NumericSketch()
    expect.update(np.concatenate([a, b, c]))
    assert win.numeric["x"].count == 600
    got = win.numeric["x"]
    for name in ("scale", "positive_offset", "negative_offset", "zero_count", "min", "max"):
        assert getattr(got, name) == getattr(expect, name)
    assert got.positive_counts.tolist() == expect.positive_counts.tolist()
    assert got.negative_counts.tolist() == expect.negative_counts.tolist()
    assert got.sum == pytest.approx(expect.sum)
    assert [k.start for k in st.dirty_windows(closed_before=1e9)] == [0.0, 60.0]


def test_retried_batch_is_stored_once(tmp_path: Path) -> None:
    st = _store(tmp_path)
    b = batch(counter("m", sc.METRIC_PREDICT_CALLS, 5, 10), prediction("m", ["p1"], 10))
    assert [o.duplicate for o in st.write([b, b])] == [False, True]
    assert st.write([b])[0].duplicate
    win = st.load_window(WindowKey("m", "1", 0.0, 60.0))
    assert win.calls == 5
    assert win.n_predicted == 1
    assert st.count("batches") == 1


def test_counters_sum_and_breakdown(tmp_path: Path) -> None:
    st = _store(tmp_path)
    st.write(
        [
            batch(
                counter("m", sc.METRIC_PREDICT_CALLS, 3, 5),
                counter("m", sc.METRIC_PREDICT_CALLS, 4, 7),
                counter("m", sc.METRIC_PREDICT_ROWS, 70, 7),
                attr_counter("m", sc.METRIC_PREDICT_ERRORS, 2, 8, {sc.ERROR_TYPE: "ValueError"}),
                attr_counter(
                    "m",
                    sc.METRIC_DATA_QUALITY_ISSUES,
                    6,
                    8,
                    {sc.ML_DATA_QUALITY_ISSUE: sc.QUALITY_MISSING},
                    feature="x",
                ),
                attr_counter(
                    "m",
                    sc.METRIC_FEATURE_CATEGORIES,
                    9,
                    8,
                    {sc.ML_FEATURE_VALUE: "red"},
                    feature="color",
                ),
                attr_counter(
                    "m",
                    sc.METRIC_FEATURE_CATEGORIES,
                    1,
                    8,
                    {sc.ML_FEATURE_VALUE: sc.OVERFLOW_CATEGORY},
                    feature="color",
                ),
                duration_point("m", [0.001, 0.02, 0.3], 9),
                duration_point("m", [0.7], 9),
            )
        ]
    )
    w = st.load_window(WindowKey("m", "1", 0.0, 60.0))
    assert (w.calls, w.rows, dict(w.errors)) == (7, 70, {"ValueError": 2})
    assert w.quality[("x", sc.QUALITY_MISSING)] == 6
    assert w.categorical["color"].counts == {"red": 9}
    assert w.categorical["color"].overflow == 1
    assert w.duration is not None and w.duration.count == 4 and sum(w.duration.counts) == 4


def test_label_join_in_any_order_with_delay(tmp_path: Path) -> None:
    st = _store(tmp_path)
    st.write(
        [
            batch(
                prediction(
                    "m", ["a", "b"], 10, scores=[0.9, 0.2], labels=["1", "0"], trace_id="ab" * 16
                )
            )
        ]
    )
    st.write([batch(outcome("m", ["c"], ["1"], 12))])  # label before its prediction
    assert (st.stats().pending_predictions, st.stats().pending_outcomes) == (2, 1)
    st.write([batch(outcome("m", ["a"], ["0"], 40))])
    st.write([batch(prediction("m", ["c"], 11, scores=[0.7], labels=["1"]))])
    s = st.stats()
    assert (s.pending_predictions, s.pending_outcomes) == (1, 0)
    w = st.load_window(WindowKey("m", "1", 0.0, 60.0))
    assert w.labelled.ids == ("a", "c")
    assert w.labelled.actual_labels == ("0", "1")
    assert w.labelled.predicted == ("1", "1")
    assert w.labelled.delays == (30.0, 1.0)
    assert w.n_predicted == 3
    assert w.trace_ids == ("ab" * 16,)
    # a second outcome for an already labelled id is not counted again
    st.write([batch(outcome("m", ["a"], ["1"], 41))])
    assert st.load_window(WindowKey("m", "1", 0.0, 60.0)).labelled.actual_labels == ("0", "1")


def test_pending_rows_are_bounded_and_expire(tmp_path: Path) -> None:
    st = _store(tmp_path, max_pending=5, label_ttl=100.0)
    st.write([batch(prediction("m", [f"p{i}" for i in range(8)], 10))])
    assert st.stats().pending_predictions == 5
    assert st.stats().evicted_predictions == 3
    assert st.count("predictions") == 5
    st.write([batch(outcome("m", ["zz"], [1.5], 150))])
    st.housekeep(now=200.0, retention=1e6)
    assert st.count("predictions") == 0 and st.count("outcomes") == 1
    st.housekeep(now=300.0, retention=1e6)
    assert st.count("outcomes") == 0


def test_state_survives_reopen(tmp_path: Path) -> None:
    st = _store(tmp_path)
    b = batch(feature_point("m", "x", [1.0, 2.0], 10), prediction("m", ["a"], 10, scores=[0.5]))
    st.write([b])
    st.close()
    st2 = _store(tmp_path)
    assert st2.write([b])[0].duplicate
    assert st2.stats().pending_predictions == 1
    assert st2.load_window(WindowKey("m", "1", 0.0, 60.0)).numeric["x"].count == 2


def test_save_report_marks_window_clean_and_late_data_dirties_it(tmp_path: Path) -> None:
    st = _store(tmp_path)
    st.write([batch(counter("m", sc.METRIC_PREDICT_CALLS, 1, 10))])
    key = st.dirty_windows(closed_before=0.0)[0]
    st.save_report(key, "{}", now=100.0)
    assert st.dirty_windows(closed_before=1e9) == []
    assert st.reports("m")[0][1] == "{}"
    st.write([batch(counter("m", sc.METRIC_PREDICT_CALLS, 1, 11))])
    assert st.dirty_windows(closed_before=1e9) == [key]


def test_failed_transaction_leaves_store_and_cache_consistent(tmp_path: Path) -> None:
    import dataclasses

    from otel_ml import SketchError

    st = Store(tmp_path / "c.db", W, cache_size=1)
    st.write([batch(feature_point("m", "x", [1.0, 2.0], 10), feature_point("m", "y", [3.0], 10))])
    good = feature_point("m", "x", [4.0], 11)
    bad_buckets = dataclasses.replace(good.buckets, count=5)  # counts do not add up
    bad = dataclasses.replace(feature_point("m", "z", [1.0], 11), buckets=bad_buckets)
    with pytest.raises(SketchError):
        st.write([batch(good), batch(bad)])
    win = st.load_window(WindowKey("m", "1", 0.0, 60.0))
    assert win.numeric["x"].count == 2 and "z" not in win.numeric
    st.write([batch(good)])
    st.write([batch(feature_point("m", "y", [5.0], 12))])  # evicts x from the 1-entry cache
    st.write([batch(feature_point("m", "x", [6.0], 12))])
    win = st.load_window(WindowKey("m", "1", 0.0, 60.0))
    assert (win.numeric["x"].count, win.numeric["x"].sum) == (4, 13.0)
    assert (win.numeric["y"].count, win.numeric["y"].sum) == (2, 8.0)
    assert st.count("batches") == 4


def test_labelled_rows_loaded_per_window_are_bounded_by_a_uniform_sample(tmp_path: Path) -> None:
    from otel_ml.evaluator._evaluate import evaluate
    from otel_ml.stats import DriftPolicy

    st = Store(tmp_path / "b.db", W, max_labelled=50)
    ids = [f"r{i:03d}" for i in range(400)]
    st.write([batch(prediction("m", ids, 10, scores=[i / 400 for i in range(400)]))])
    st.write([batch(outcome("m", ids[:200], [float(i) for i in range(200)], 20))])
    win = st.load_window(WindowKey("m", "1", 0.0, 60.0))
    assert len(win.labelled) == 50 and win.labelled.n_total == 200
    assert set(win.labelled.ids) <= set(ids[:200])
    assert max(win.labelled.ids) > "r100"  # a sample of all, not the first 50 by id
    perf = evaluate(win, None, DriftPolicy()).performance
    assert perf is not None
    assert (perf.n_labelled, perf.n_predicted, perf.n_sampled) == (200, 400, 50)
    assert perf.coverage == 0.5


def test_a_window_loads_the_same_from_the_cache_as_from_its_rows(tmp_path: Path) -> None:
    """Sketches still cached are copied from the cache, the others decoded from their rows:
    the same sketches either way, and changing a loaded one changes nothing stored."""
    rng = np.random.default_rng(9)
    points = [feature_point("m", f"f{i}", rng.normal(i, 1, 200), 10 + i) for i in range(6)]
    cached, uncached = Store(tmp_path / "a.db", W), Store(tmp_path / "b.db", W, cache_size=0)
    for st in (cached, uncached):
        st.write([batch(*points[:3])])
        st.write([batch(*points[3:], feature_point("m", "f0", [1.0, -2.0], 30))])
    key = WindowKey("m", "1", 0.0, 60.0)
    a, b = cached.load_window(key), uncached.load_window(key)
    assert a.numeric == b.numeric and len(a.numeric) == 6
    a.numeric["f0"].update([1e9])
    assert cached.load_window(key).numeric == b.numeric


def _reasons(outcomes: list[WriteOutcome]) -> dict[str, int]:
    return {r.reason: r.count for o in outcomes for r in o.rejected}


def test_labels_must_fit_the_task_their_first_labels_fixed(tmp_path: Path) -> None:
    from otel_ml.evaluator._evaluate import evaluate
    from otel_ml.stats import DriftPolicy

    st = _store(tmp_path)
    ids = [f"r{i}" for i in range(6)]
    st.write([batch(prediction("m", ids, 10, scores=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]))])
    assert _reasons(st.write([batch(outcome("m", ids[:3], [1.5, 2.0, 3.5], 20))])) == {}
    got = st.write([batch(outcome("m", ids[3:], ["a", "b", "c"], 20))])
    assert _reasons(got) == {"ml.outcome.values are classes but the model is a regression model": 1}
    win = st.load_window(WindowKey("m", "1", 0.0, 60.0))
    assert win.labelled.ids == ("r0", "r1", "r2")
    perf = evaluate(win, None, DriftPolicy()).performance
    assert perf is not None and perf.task == "regression"
    assert perf.metrics.mae == pytest.approx(1 / 3)
    st.close()
    assert _store(tmp_path).labels.tasks.task("m") == "regression"  # kept across a restart


def test_declared_task_reads_integers_as_classes_and_refuses_other_numbers(
    tmp_path: Path,
) -> None:
    st = _store(tmp_path)
    declared = counter("m", sc.METRIC_PREDICT_CALLS, 1, 10, ml_model_task="binary_classification")
    st.write([batch(declared, prediction("m", ["a", "b", "c"], 10, scores=[0.9, 0.2, 0.7]))])
    assert _reasons(st.write([batch(outcome("m", ["a", "b"], [1.0, 0.0], 20))])) == {}
    got = st.write([batch(outcome("m", ["c"], [0.5], 20))])
    assert _reasons(got) == {
        "ml.outcome.values are not integers but the model is a classification model": 1
    }
    win = st.load_window(WindowKey("m", "1", 0.0, 60.0))
    assert win.labelled.actual_labels == ("1", "0")
    # predictions with class labels fix classification for a model that declares nothing
    st.write([batch(prediction("n", ["x"], 10, labels=["yes"]))])
    assert _reasons(st.write([batch(outcome("n", ["x"], [2.5], 20))])) != {}


def test_a_label_flood_for_made_up_models_keeps_a_real_models_early_labels(
    tmp_path: Path,
) -> None:
    """Issue 16 item 17 scaled down 100x: 12,000 labels for made-up models (one name, then
    3,000 names) against a real model's 1,000 labels waiting for their predictions."""
    st = _store(tmp_path, max_pending=2_000, max_pending_unknown=500)
    st.write([batch(counter("real", sc.METRIC_PREDICT_CALLS, 1, 5))])  # the model exists
    early = [f"r{i}" for i in range(1_000)]
    st.write([batch(outcome("real", early, [float(i) for i in range(1_000)], 10))])
    for k in range(12):
        ids = [f"f{k}-{i}" for i in range(1_000)]
        st.write([batch(outcome("made-up", ids, [1.0] * 1_000, 11 + k))])
    for k in range(12):
        models = [f"fake{k}-{i}" for i in range(250)]
        st.write([batch(*(outcome(m, ["x", "y", "z", "w"], [1.0] * 4, 30 + k) for m in models))])
    s = st.stats()
    assert s.pending_outcomes == 1_000 + 500 == st.count("outcomes")
    assert (s.pending_outcomes_unknown_model, s.evicted_outcomes_unknown_model) == (500, 23_500)
    st.write([batch(prediction("real", early, 12, scores=[0.0] * 1_000))])
    assert st.load_window(WindowKey("real", "1", 0.0, 60.0)).labelled.n_total == 1_000
    # a real model's own flood is bounded per model (its oldest labels go first)
    st.write([batch(outcome("real", [f"n{i}" for i in range(2_500)], [1.0] * 2_500, 50))])
    assert st.stats().pending_outcomes == 2_000 + 500


def test_labels_of_a_model_wait_apart_until_the_model_is_seen(tmp_path: Path) -> None:
    st = _store(tmp_path, max_pending_unknown=3)
    st.write([batch(outcome("late", ["a", "b"], [1.0, 2.0], 10))])
    assert st.stats().pending_outcomes_unknown_model == 2
    st.write([batch(prediction("late", ["a"], 11, scores=[1.5]))])  # joins "a"; "b" moves
    s = st.stats()
    assert (s.pending_outcomes, s.pending_outcomes_unknown_model) == (1, 0)
    st.write([batch(outcome("other", ["a", "b", "c", "d"], [1.0] * 4, 12))])
    s = st.stats()
    assert (s.pending_outcomes, s.pending_outcomes_unknown_model) == (4, 3)
    st.close()
    s = _store(tmp_path, max_pending_unknown=3).stats()  # the pools are read back
    assert (s.pending_outcomes, s.pending_outcomes_unknown_model) == (4, 3)


def test_relabels_and_ids_repeated_in_an_event_are_reported_as_ignored(tmp_path: Path) -> None:
    st = _store(tmp_path)
    st.write([batch(prediction("m", ["a", "b"], 10, scores=[0.5, 0.5]))])
    (first,) = st.write([batch(outcome("m", ["a", "a", "c"], [1.0, 2.0, 3.0], 20))])
    assert {r.reason: r.count for r in first.ignored} == {
        "id given twice in one ml.outcome event (the first label is kept)": 1
    }
    (again,) = st.write([batch(outcome("m", ["a", "b", "c", "c"], [1.0, 5.0, 4.0, 3.0], 21))])
    assert {r.reason: r.count for r in again.ignored} == {
        "label for an id already labelled with another value (the first is kept)": 1,  # c
        "id given twice in one ml.outcome event (the first label is kept)": 1,
    }  # a: the same value again is no news; b: its first label
    win = st.load_window(WindowKey("m", "1", 0.0, 60.0))
    assert win.labelled.actual_values == (1.0, 5.0)
    assert st.stats().pending_outcomes == 1  # c, with its first label


def test_sketch_rows_written_as_json_by_earlier_versions_are_still_read(tmp_path: Path) -> None:
    """A state written before sketches were stored as binary records keeps working: its JSON
    rows are read, merged into, and written back in the new form."""
    import json

    from otel_ml.evaluator._store_codec import sketch_from_stored, sketch_to_blob

    store = Store(tmp_path / "s.db", Windowing(60.0))
    old = NumericSketch()
    old.update([1.0, 2.0, 300.0])
    store.db.execute(
        "INSERT INTO sketches(model, version, start, signal, name, data) VALUES (?,?,?,?,?,?)",
        ("m", "1", 0.0, "feature", "x", json.dumps(old.to_dict())),
    )
    store.write([batch(feature_point("m", "x", [-4.0, 0.0, 2.5], 30.0))])
    new = NumericSketch()
    new.update([-4.0, 0.0, 2.5])
    (data,) = store.db.fetchall("SELECT data FROM sketches WHERE model='m' AND name='x'")[0]
    want = old.copy()
    want.merge(new)
    assert isinstance(data, bytes) and sketch_from_stored(data) == want
    big = NumericSketch()
    big.update([5.0] * 3)
    big.positive_counts[:] = 2**40  # counts past uint32 take eight bytes each
    big.count = 2**40 * big.positive_counts.size
    assert sketch_from_stored(sketch_to_blob(big)) == big
