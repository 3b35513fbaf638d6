"""Invariants of the change detectors (Hypothesis)."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_ml._errors import ConfigurationError
from otel_ml.stats import ADWIN, Change, PageHinkley, detector_from_dict

errors01 = st.lists(st.sampled_from([0.0, 1.0]), min_size=0, max_size=600)
errors_abs = st.lists(st.floats(0.0, 50.0, allow_nan=False), min_size=0, max_size=600)
streams = st.one_of(errors01, errors_abs)
detectors = st.sampled_from(
    [
        lambda: PageHinkley(threshold=5.0),
        lambda: PageHinkley(threshold=3.0, mode="up", history=50),
        lambda: ADWIN(clock=1),
        lambda: ADWIN(delta=0.1, clock=4, max_buckets=2),
    ]
)


def _run(det: PageHinkley | ADWIN, stream: list[float]) -> list[Change]:
    out = []
    for i, x in enumerate(stream):
        det.update(x, t=1000.0 + i)
        if det.drift_detected:
            assert det.change is not None
            out.append(det.change)
    return out


@settings(max_examples=60, deadline=None)
@given(make=detectors, stream=streams, cut=st.integers(0, 600))
def test_state_survives_json_mid_stream(make, stream, cut) -> None:
    """Stopping anywhere, writing the state as JSON and reading it back changes nothing."""
    whole = make()
    expected = _run(whole, stream)
    first = make()
    head = _run(first, stream[:cut])
    again = detector_from_dict(json.loads(json.dumps(first.to_dict())))
    tail = []
    for i, x in enumerate(stream[cut:], start=min(cut, len(stream))):
        again.update(x, t=1000.0 + i)
        if again.drift_detected:
            assert again.change is not None
            tail.append(again.change)
    assert head + tail == expected
    assert again.to_dict() == whole.to_dict()


@settings(max_examples=60, deadline=None)
@given(make=detectors, stream=streams)
def test_a_change_is_described_consistently(make, stream) -> None:
    det = make()
    for c in _run(det, stream):
        assert 0 <= c.start_index <= c.index < len(stream)
        assert c.index - c.n < c.start_index  # within the values since the last restart
        assert c.time == 1000.0 + c.index
        assert c.start_time == 1000.0 + c.start_index
        assert c.direction in ("up", "down")
        assert math.isfinite(c.mean_after)
        if isinstance(det, ADWIN):
            assert (c.mean_after > c.mean_before) == (c.direction == "up")


@settings(max_examples=40, deadline=None)
@given(value=st.floats(0.0, 1e6, allow_nan=False), n=st.integers(0, 3000))
def test_a_constant_stream_never_changes(value, n) -> None:
    for det in (PageHinkley(), ADWIN(clock=1)):
        assert _run(det, [value] * n) == []


@settings(max_examples=40, deadline=None)
@given(stream=streams)
def test_mode_up_reports_rises_only(stream) -> None:
    assert all(c.direction == "up" for c in _run(PageHinkley(threshold=2.0, mode="up"), stream))
    assert all(c.direction == "down" for c in _run(PageHinkley(threshold=2.0, mode="down"), stream))


@settings(max_examples=30, deadline=None)
@given(stream=st.lists(st.sampled_from([0.0, 1.0]), min_size=1000, max_size=4000))
def test_adwin_memory_is_logarithmic(stream) -> None:
    """At most max_buckets + 1 summaries per power of two of the window."""
    det = ADWIN(clock=1, max_buckets=5)
    for x in stream:
        det.update(x)
        rows = det.to_dict()["state"]["totals"]
        assert len(rows) <= math.log2(max(det.width, 1)) + 2
        assert all(len(r) <= 6 for r in rows)
        assert sum(len(r) * 2**i for i, r in enumerate(rows)) == det.width
    assert len(PageHinkley(history=10).to_dict()["recent"]) == 0


def test_the_detection_comes_after_the_change_and_the_estimate_near_it() -> None:
    stream = [0.0, 0.0, 0.0, 1.0] * 250 + [1.0, 1.0, 0.0, 1.0] * 250  # 0.25 -> 0.75 at 1000
    for det in (PageHinkley(), ADWIN()):
        (c,) = _run(det, stream)
        assert 1000 <= c.index <= 1150
        assert abs(c.start_index - 1000) <= 32, c
        assert c.direction == "up"
        assert c.mean_before == pytest.approx(0.25, abs=0.05)


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: PageHinkley(threshold=0), "PageHinkley.threshold"),
        (lambda: PageHinkley(mode="sideways"), "PageHinkley.mode"),
        (lambda: PageHinkley(alpha=1.5), "PageHinkley.alpha"),
        (lambda: ADWIN(delta=0), "ADWIN.delta"),
        (lambda: ADWIN(clock=0), "ADWIN.clock"),
        (lambda: ADWIN(max_buckets=1), "ADWIN.max_buckets"),
    ],
)
def test_bad_parameters_name_the_field(make, field) -> None:
    with pytest.raises(ConfigurationError, match=f"^{field}: "):
        make()
