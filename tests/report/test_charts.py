"""SVG charts: well-formed, escaped, and drawing what they are given."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_ml.report import (
    Band,
    Marker,
    Series,
    distribution_chart,
    histogram_chart,
    line_chart,
    numeric_bins,
)
from otel_ml.sketch import CategoricalSketch, NumericSketch

SVG = "{http://www.w3.org/2000/svg}"
EVIL = '<script>alert("x")</script>&'


def _parse(markup: str) -> ET.Element:
    """Every chart is a well-formed XML fragment (no HTML-only entities)."""
    return ET.fromstring(markup)


def _numeric(values: np.ndarray) -> NumericSketch:
    s = NumericSketch()
    s.update(values)
    return s


def test_numeric_distribution_chart_draws_both_distributions() -> None:
    rng = np.random.default_rng(3)
    ref, cur = _numeric(rng.normal(0, 1, 5000)), _numeric(rng.normal(2, 1, 5000))
    fig = _parse(distribution_chart(ref, cur, title="x"))
    paths = fig.findall(f".//{SVG}path")
    assert len(paths) == 2

    # The current (shifted) distribution's path reaches further right at its peak.
    def peak_x(path: ET.Element) -> float:
        pts = [
            tuple(map(float, p.split(",")))
            for p in re.findall(r"[-\d.]+,[-\d.]+", path.get("d", ""))
        ]
        return min(pts, key=lambda p: p[1])[0]  # smallest y = highest bar

    assert peak_x(paths[1]) > peak_x(paths[0]) + 50


def test_caption_reports_mass_outside_the_range_shown() -> None:
    raw = np.concatenate([np.random.default_rng(0).normal(0, 1, 2000), np.full(4, 1e5)])
    fig = distribution_chart(_numeric(raw), _numeric(raw))
    assert "Outside the range shown" in fig and "above" in fig


def test_categorical_distribution_chart_has_a_bar_pair_per_category() -> None:
    a, b = CategoricalSketch(), CategoricalSketch()
    a.update(["x", "y", "y", EVIL])
    b.update(["y", "z"])
    fig = _parse(distribution_chart(a, b, title=EVIL))
    texts = "".join(fig.itertext())
    assert EVIL in texts  # escaped in the markup, intact as text
    assert len(fig.findall(f".//{SVG}rect")) == 2 * 4 + 2  # 4 categories x 2 bars + legend


def test_mixed_sketch_kinds_are_rejected() -> None:
    with pytest.raises(TypeError, match="same kind"):
        distribution_chart(NumericSketch(), CategoricalSketch())


def test_user_text_is_escaped_everywhere() -> None:
    ref = _numeric(np.arange(10.0))
    outputs = [
        distribution_chart(ref, ref, title=EVIL, labels=(EVIL, EVIL)),
        histogram_chart(numeric_bins(ref, ref), title=EVIL, x_label=EVIL),
        line_chart(
            [Series(EVIL, (0, 1), (1, 2), colour='red" onload="x')],
            title=EVIL,
            x_label=EVIL,
            y_label=EVIL,
            markers=[Marker(0.5, EVIL), Marker(1.5, EVIL, axis="y")],
            bands=[Band(0.2, 0.4, EVIL)],
        ),
    ]
    for out in outputs:
        assert "<script" not in out and 'onload="' not in out
        _parse(out)


def test_line_chart_gaps_steps_markers_and_bands() -> None:
    s = Series("psi", (0.0, 1.0, 2.0, 3.0), (0.1, 0.2, float("nan"), 0.4))
    fig = _parse(
        line_chart(
            [s],
            step=True,
            markers=[Marker(1.5, "drift starts"), Marker(0.25, "threshold", axis="y")],
            bands=[Band(2.0, 3.0, "alert firing")],
        )
    )
    d = fig.findall(f".//{SVG}path")[0].get("d", "")
    assert d.count("M") == 2  # NaN breaks the line
    pts = [tuple(map(float, p.split(","))) for p in re.findall(r"[-\d.]+,[-\d.]+", d)]
    # A step: the second point keeps the first y, then jumps.
    assert pts[1][1] == pts[0][1] and pts[2][0] == pts[1][0] and pts[2][1] < pts[1][1]
    texts = list(fig.itertext())
    assert "drift starts" in texts and "threshold" in texts and "alert firing" in texts
    assert len(fig.findall(f".//{SVG}line[@stroke-dasharray]")) == 2


def test_line_chart_without_points_still_renders() -> None:
    _parse(line_chart([Series("empty", (), ())], title="nothing yet"))


def test_large_axis_values_are_abbreviated() -> None:
    fig = line_chart([Series("rows", (0, 1), (0.0, 2_000_000.0))])
    assert "2M" in fig


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=60),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=60),
)
def test_any_numeric_values_give_a_well_formed_chart(a: list[float], b: list[float]) -> None:
    fig = _parse(distribution_chart(_numeric(np.array(a)), _numeric(np.array(b))))
    for el in fig.iter():
        for attr in ("x", "y", "width", "height", "x1", "x2", "y1", "y2"):
            v = el.get(attr)
            if v is not None:
                assert np.isfinite(float(v)), (attr, v)
        d = el.get("d")
        if d:
            assert "nan" not in d and "inf" not in d


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=30))
def test_any_line_values_give_finite_coordinates(ys: list[float]) -> None:
    svg = line_chart(
        [Series("s", [float(i) for i in range(len(ys))], ys)],
        markers=[Marker(0.5, "m"), Marker(ys[0] if ys else 0.0, "h", axis="y")],
        time_axis=True,
    )
    coords = re.findall(r'\s(?:x|y|x1|x2|y1|y2|width|height)="([^"]+)"', svg)
    assert coords and all(np.isfinite(float(c)) for c in coords)
    for d in re.findall(r'\sd="([^"]*)"', svg):
        assert "nan" not in d and "inf" not in d


def _tick_labels(svg: str) -> list[str]:
    """The x-axis tick labels (centred text under the axis)."""
    return re.findall(r'text-anchor="middle">([^<]*)</text>', svg)


def test_count_features_are_labelled_with_integers_only() -> None:
    binary = _numeric(np.array([0, 1, 1, 0, 1] * 40, dtype=float))
    assert _tick_labels(distribution_chart(binary, binary)) == ["0", "1"]
    rng = np.random.default_rng(5)
    visits = _numeric(rng.poisson(4, 2000).astype(float))
    labels = _tick_labels(distribution_chart(visits, visits))
    assert len(labels) >= 3 and all(float(t).is_integer() for t in labels), labels


def test_share_axis_stops_at_100_percent() -> None:
    const = _numeric(np.full(500, 7.0))
    svg = distribution_chart(const, const)
    shares = re.findall(r'text-anchor="end" dominant-baseline="middle">([^<]*)%</text>', svg)
    assert shares and max(float(s) for s in shares) == 100.0, shares


def test_a_long_title_gets_its_own_row_instead_of_hiding_under_the_legend() -> None:
    title = "Feature drift (PSI against the training profile) per window"
    series = [Series(f"feature number {i}", (0.0, 1.0), (0.1, 0.2)) for i in range(5)]
    fig = _parse(line_chart(series, title=title))
    svg = fig.find(f"{SVG}svg")
    assert svg is not None
    heading = svg.find(f"{SVG}text[@class='title']")
    assert heading is not None and "".join(heading.itertext()).endswith(title)  # not cut
    # Everything else moved down one row, below the title.
    assert svg.find(f"{SVG}g[@transform='translate(0,18.0)']") is not None
    assert svg.get("viewBox") == "0 0 640.0 258.0"
    # A short title still shares the top row with the legend.
    short = _parse(line_chart(series[:1], title="PSI"))
    assert short.find(f".//{SVG}g") is None


def test_heavy_tailed_chart_has_a_decade_axis_and_shows_the_shift() -> None:
    rng = np.random.default_rng(9)
    ref, cur = _numeric(rng.lognormal(3, 2, 20_000)), _numeric(rng.lognormal(5, 2, 20_000))
    svg = distribution_chart(ref, cur)
    labels = _tick_labels(svg)
    assert "log scale" in labels and {"1", "10", "100", "1000"} <= set(labels), labels
    fig = _parse(svg)
    paths = fig.findall(f".//{SVG}path")

    def peak_x(path: ET.Element) -> float:
        pts = [
            tuple(map(float, p.split(",")))
            for p in re.findall(r"[-\d.]+,[-\d.]+", path.get("d", ""))
        ]
        return min(pts, key=lambda p: p[1])[0]

    # exp(2) = 7.4 times larger values: about 0.87 decades to the right.
    assert peak_x(paths[1]) > peak_x(paths[0]) + 40


def test_the_folded_categories_bar_is_labelled_for_people() -> None:
    a = CategoricalSketch()
    a.update([f"c{i}" for i in range(30) for _ in range(i + 1)])
    texts = list(_parse(distribution_chart(a, a, top=5)).itertext())
    assert "(all others)" in texts and "__other__" not in "".join(texts)


def test_time_axis_has_a_label_every_few_minutes_and_none_cut_off() -> None:
    t0 = 1_800_000_000.0 - 1_800_000_000.0 % 3600  # a whole hour
    x = [t0 + 30 + 60 * i for i in range(12)]
    bands = [Band(t0, t0 + 720, "windows", opacity=0.0)]
    svg = line_chart([Series("acc", x, [0.9] * 12)], time_axis=True, bands=bands)
    labels = re.findall(r'text-anchor="(middle|end)">(\d\d:\d\d)</text>', svg)
    assert len(labels) == 7, labels  # every 2 minutes over 12, not 2 labels
    assert labels[-1][0] == "end" and all(a == "middle" for a, _ in labels[:-1])
