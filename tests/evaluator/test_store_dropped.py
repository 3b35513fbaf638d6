"""Labels of predictions an SDK reported dropped are counted apart from labels of ids
never seen (which wait, and are evicted in the end)."""

from __future__ import annotations

from pathlib import Path

from evaluator_points import NS, batch, outcome, prediction

from otel_ml.evaluator._records import DroppedPredictions
from otel_ml.evaluator._store import Store
from otel_ml.evaluator._windows import Windowing, WindowKey

W = Windowing(size=60.0, grace=5.0)


def _dropped(rows: int, *ranges: tuple[str, int, int], t: float = 10.0) -> DroppedPredictions:
    return DroppedPredictions(
        model="m", version="1", rows=rows, ranges=ranges, time_unix_nano=int(t * NS)
    )


def test_labels_of_dropped_predictions_are_counted_not_kept(tmp_path: Path) -> None:
    st = Store(tmp_path / "state.db", W)
    st.write([batch(prediction("m", ["p-1", "p-2", "p-3"], 10.0, scores=[0.1, 0.2, 0.3]))])
    st.write([batch(outcome("m", ["p-5"], ["1"], 11.0))])  # before its drop is known
    assert st.stats().pending_outcomes == 1
    # p-4 ... p-9 dropped by the SDK, and 4 user-given ids (only counted).
    st.write([batch(_dropped(10, ("p", 4, 9)))])
    s = st.stats()
    assert (s.pending_outcomes, s.labels_of_dropped_predictions) == (0, 1)
    # A label joins, one meets a dropped prediction, two wait for ids never seen.
    st.write([batch(outcome("m", ["p-1", "p-7", "q-7", "p-20"], ["0", "1", "1", "1"], 12.0))])
    s = st.stats()
    assert (s.dropped_predictions, s.labels_of_dropped_predictions) == (10, 2)
    assert s.pending_outcomes == 2  # q-7 and p-20: unknown ids, not dropped ones
    w = st.load_window(WindowKey("m", "1", 0.0, 60.0))
    assert (w.n_predicted, w.n_dropped, w.n_labels_dropped) == (3, 10, 2)
    assert w.labelled.n_total == 1
    st.close()


def test_dropped_ranges_survive_a_restart_and_expire_with_pending_labels(tmp_path: Path) -> None:
    st = Store(tmp_path / "state.db", W, label_ttl=100.0)
    st.write([batch(_dropped(3, ("p", 1, 3)))])
    st.close()
    st = Store(tmp_path / "state.db", W, label_ttl=100.0)
    st.write([batch(outcome("m", ["p-2"], ["1"], 20.0))])
    assert (st.stats().labels_of_dropped_predictions, st.stats().pending_outcomes) == (1, 0)
    st.housekeep(500.0, retention=10_000.0)  # past label_ttl: the ranges go
    st.write([batch(outcome("m", ["p-3"], ["1"], 501.0))])
    assert st.stats().pending_outcomes == 1
    st.close()
