"""Hypothesis: the label join does not depend on arrival order, batching or retries."""

from __future__ import annotations

import tempfile
from pathlib import Path

from evaluator_points import batch, outcome, prediction
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_ml.evaluator._store import Store
from otel_ml.evaluator._windows import Windowing, WindowKey

W = Windowing(60.0, 0.0)


@st.composite
def traffic(draw: st.DrawFn) -> tuple[set[int], set[int], list[list[tuple[str, int]]]]:
    n = draw(st.integers(1, 25))
    predicted = draw(st.sets(st.integers(0, n - 1)))
    labelled = draw(st.sets(st.integers(0, n - 1)))
    events = [("p", i) for i in predicted] + [("o", i) for i in labelled]
    events = draw(st.permutations(events))
    # cut into batches, then retry some batches (same batch id)
    cuts = sorted(draw(st.sets(st.integers(1, max(len(events) - 1, 1)), max_size=6)))
    batches, prev = [], 0
    for c in [*cuts, len(events)]:
        if events[prev:c]:
            batches.append(events[prev:c])
        prev = c
    retries = draw(st.lists(st.integers(0, max(len(batches) - 1, 0)), max_size=4))
    order = list(range(len(batches)))
    for r in retries:
        if batches:
            order.insert(draw(st.integers(r, len(order))), r)
    return predicted, labelled, [batches[k] for k in order]


@settings(max_examples=60, deadline=None)
@given(traffic())
def test_join_is_order_and_retry_independent(
    t: tuple[set[int], set[int], list[list[tuple[str, int]]]],
) -> None:
    predicted, labelled, batches = t
    with tempfile.TemporaryDirectory() as d:
        store = Store(Path(d) / "p.db", W)
        ids: dict[int, str] = {}
        for k, events in enumerate(batches):
            recs = [
                prediction("m", [f"id{i}"], 10, scores=[i / 100])
                if kind == "p"
                else outcome("m", [f"id{i}"], [float(i)], 20)
                for kind, i in events
            ]
            bid = ids.setdefault(id(events), f"batch-{k}-{events!r}")
            store.write([batch(*recs, batch_id=bid)])
        win = store.load_window(WindowKey("m", "1", 0.0, 60.0))
        both = predicted & labelled
        assert set(win.labelled.ids) == {f"id{i}" for i in both}
        assert win.labelled.actual_values == tuple(
            float(x) for x in sorted(both, key=lambda i: f"id{i}")
        )
        assert win.n_predicted == len(predicted)
        s = store.stats()
        assert s.pending_predictions == len(predicted - labelled) == store.count("predictions")
        assert s.pending_outcomes == len(labelled - predicted) == store.count("outcomes")
        store.close()
