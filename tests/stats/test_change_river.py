"""Our Page-Hinkley and ADWIN against river's on the same streams: the same detection
indices, exactly (both are deterministic, and ours repeat river's arithmetic in its
order, so even ADWIN's bucket compression and its window statistics agree bit for bit).

river is a test dependency (the ``dev`` extra), never a runtime one.
"""

from __future__ import annotations

import numpy as np
import pytest
from river import drift

from otel_ml.stats import ADWIN, PageHinkley


def _zero_one(seed: int, change: bool, n: int = 6000) -> list[float]:
    """0/1 errors of a classifier: error rate 0.1, then 0.3 from the middle (or not)."""
    rng = np.random.default_rng(seed)
    p = np.full(n, 0.1)
    if change:
        p[n // 2 :] = 0.3
    return [float(v) for v in (rng.random(n) < p)]


def _absolute(seed: int, change: bool, n: int = 6000) -> list[float]:
    """Absolute errors of a regressor: |N(0, 1)|, then |N(0, 1.6)| from the middle."""
    rng = np.random.default_rng(seed)
    scale = np.ones(n)
    if change:
        scale[n // 2 :] = 1.6
    return [float(v) for v in np.abs(rng.normal(0.0, scale))]


def _several(seed: int) -> list[float]:
    """Error rate 0.05 -> 0.4 -> 0.1 -> 0.5 (four regimes of 2,000)."""
    rng = np.random.default_rng(seed)
    p = np.repeat([0.05, 0.4, 0.1, 0.5], 2000)
    return [float(v) for v in (rng.random(p.size) < p)]


STREAMS = [
    pytest.param(
        maker, seed, change, id=f"{maker.__name__}-{seed}-{'change' if change else 'stable'}"
    )
    for maker in (_zero_one, _absolute)
    for seed in range(4)
    for change in (True, False)
] + [pytest.param(lambda s, c: _several(s), seed, True, id=f"several-{seed}") for seed in range(3)]


def _river_indices(detector: drift.PageHinkley | drift.ADWIN, stream: list[float]) -> list[int]:
    out = []
    for i, x in enumerate(stream):
        detector.update(x)
        if detector.drift_detected:
            out.append(i)
    return out


def _our_indices(detector: PageHinkley | ADWIN, stream: list[float]) -> list[int]:
    out = []
    for i, x in enumerate(stream):
        detector.update(x)
        if detector.drift_detected:
            out.append(i)
    return out


PH_PARAMS = [
    {},
    {"mode": "up"},
    {"mode": "down"},
    {"threshold": 10.0, "delta": 0.01, "min_instances": 50},
    {"threshold": 20.0, "alpha": 0.999, "mode": "up"},
]
ADWIN_PARAMS = [
    {},
    {"clock": 1},
    {"delta": 0.05, "clock": 8},
    {"max_buckets": 3, "min_window_length": 10, "grace_period": 50},
]


@pytest.mark.parametrize(
    "params", PH_PARAMS, ids=lambda p: ",".join(map(str, p.items())) or "default"
)
@pytest.mark.parametrize(("maker", "seed", "change"), STREAMS)
def test_page_hinkley_detects_where_river_does(maker, seed, change, params) -> None:
    stream = maker(seed, change)
    ours = _our_indices(PageHinkley(**params), stream)
    assert ours == _river_indices(drift.PageHinkley(**params), stream)


@pytest.mark.parametrize(
    "params", ADWIN_PARAMS, ids=lambda p: ",".join(map(str, p.items())) or "default"
)
@pytest.mark.parametrize(("maker", "seed", "change"), STREAMS)
def test_adwin_detects_where_river_does(maker, seed, change, params) -> None:
    stream = maker(seed, change)
    ours = _our_indices(ADWIN(**params), stream)
    assert ours == _river_indices(drift.ADWIN(**params), stream)


@pytest.mark.parametrize("seed", range(3))
def test_adwin_window_statistics_equal_rivers_after_every_value(seed: int) -> None:
    """Not only the detections: the window width, sum and variance after each value are
    river's to the last bit (so its bucket compression is the same)."""
    stream = _several(seed)[:5000]
    ours, theirs = ADWIN(clock=4), drift.ADWIN(clock=4)
    for x in stream:
        ours.update(x)
        theirs.update(x)
        assert ours.drift_detected == theirs.drift_detected
        assert (ours.width, ours._total, ours._variance) == (
            theirs.width,
            theirs.total,
            theirs.variance,
        )


def test_the_changes_are_found_and_the_stable_streams_are_quiet() -> None:
    """What the comparison is about: with river's defaults both detectors find the
    0.1 -> 0.3 change of every seed, after it, and the stable streams of these seeds
    raise nothing (the equality above then says river behaves the same)."""
    for seed in range(4):
        stable, changed = _zero_one(seed, False), _zero_one(seed, True)
        for make in (PageHinkley, ADWIN):
            assert _our_indices(make(), stable) == []
            found = _our_indices(make(), changed)
            assert found and found[0] >= 3000, (make.__name__, seed, found)
