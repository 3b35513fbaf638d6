"""Inline SVG charts of distributions: overlaid numeric histograms and category bars.

Each function returns :class:`~otel_ml.report.Markup` holding one
``<figure>`` with an ``<svg>`` (scaled to the page width by the CSS of
:func:`~otel_ml.report.page`) and an optional caption. Labels, legends and
tooltips (SVG ``<title>``, shown on hover without JavaScript) are escaped.
Lines over time are in :mod:`otel_ml.report._line_chart`.

Examples
--------
>>> import numpy as np
>>> from otel_ml.sketch import NumericSketch
>>> ref, cur = NumericSketch(), NumericSketch()
>>> ref.update(np.random.default_rng(0).normal(0, 1, 5000))
>>> cur.update(np.random.default_rng(1).normal(1, 1, 5000))
>>> svg = distribution_chart(ref, cur, title="age <years>")
>>> svg.count("<path"), "age &lt;years&gt;" in svg
(2, True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from otel_ml.report._axes import LinearScale, nice_step, nice_ticks
from otel_ml.report._histogram import (
    DEFAULT_BINS,
    DEFAULT_TAIL,
    CategoryBars,
    DisplayHistogram,
    category_bars,
    numeric_bins,
)
from otel_ml.report._markup import Markup, escape
from otel_ml.report._svg import (
    BOTTOM,
    LEFT,
    RIGHT,
    TOP,
    Frame,
    axis_number,
    draw_axes,
    figure,
    legend,
    legend_width,
    make_frame,
    percent,
    px,
)
from otel_ml.semconv import OVERFLOW_CATEGORY
from otel_ml.sketch import CategoricalSketch, NumericSketch

__all__ = [
    "CURRENT_COLOUR",
    "REFERENCE_COLOUR",
    "category_chart",
    "distribution_chart",
    "histogram_chart",
]

REFERENCE_COLOUR = "#4c78a8"
OTHER_LABEL = "(all others)"
CURRENT_COLOUR = "#f58518"


def _step_path(fr: Frame, edges: Sequence[float], values: Sequence[float]) -> str:
    y0 = px(fr.y(0.0))
    d = [f"M{px(fr.x(edges[0]))},{y0}"]
    for i, v in enumerate(values):
        y = px(fr.y(v))
        d.append(f"L{px(fr.x(edges[i]))},{y}L{px(fr.x(edges[i + 1]))},{y}")
    d.append(f"L{px(fr.x(edges[-1]))},{y0}Z")
    return "".join(d)


def _unit_bins(edges: Sequence[float]) -> bool:
    """Whether ``edges`` are the integer bars of :func:`numeric_bins` (k - 0.5 .. k + 0.5).

    >>> _unit_bins((-0.5, 0.5, 1.5)), _unit_bins((0.0, 1.0, 2.0)), _unit_bins((0.0, 0.5))
    (True, False, False)
    """
    return len(edges) > 1 and all(
        abs(b - a - 1.0) < 1e-9 and float(a + 0.5).is_integer()
        for a, b in zip(edges, edges[1:], strict=False)
    )


def _decade_label(exponent: float) -> str:
    """The value at ``10 ** exponent`` as a tick label.

    >>> _decade_label(3.0), _decade_label(-2.0)
    ('1000', '0.01')
    """
    return axis_number(10.0**exponent)


def histogram_chart(
    hist: DisplayHistogram,
    *,
    title: str | None = None,
    labels: tuple[str, str] = ("reference", "current"),
    x_label: str | None = None,
    width: float = 480,
    height: float = 220,
) -> Markup:
    """Overlay the two distributions of a :class:`DisplayHistogram` as filled steps."""
    # Shares: the axis never goes past 100 % (a constant column is one full bar).
    top = min(max([*hist.reference, *hist.current, 1e-12]) * 1.08, 1.0)
    yticks = nice_ticks(0.0, top, count=4)
    # A log axis is drawn as a linear one over log10 of the values.
    edges = [math.log10(e) for e in hist.edges] if hist.log else list(hist.edges)
    fr = make_frame(width, height, (edges[0], edges[-1]), (0.0, yticks[-1]))
    x0, x1 = edges[0], edges[-1]
    xticks = [t for t in nice_ticks(x0, x1) if x0 <= t <= x1]
    x_format = _decade_label if hist.log else axis_number
    if hist.log:
        # Ticks on whole decades, labelled with the values (1, 10, 100, 1k...).
        decades = range(math.ceil(x0 - 1e-9), math.floor(x1 + 1e-9) + 1)
        every = max(1, math.ceil(len(decades) / 6))
        xticks = [float(d) for d in decades if d % every == 0]
        x_label = x_label or "log scale"
    elif _unit_bins(hist.edges):
        # One bar per integer (a count feature): label integers under the bars'
        # centres, never a bar's edge (-0.5) or a value that cannot occur (2.5).
        step = max(1, math.floor(nice_step(x1 - x0, 5)))
        first = math.ceil(x0 / step) * step
        xticks = [float(t) for t in range(first, math.floor(x1) + 1, step)]
    parts = draw_axes(
        fr, xticks, yticks, x_format=x_format, y_format=percent, x_label=x_label, y_label=None
    )
    for values, colour, opacity in (
        (hist.reference, REFERENCE_COLOUR, 0.35),
        (hist.current, CURRENT_COLOUR, 0.18),
    ):
        parts.append(
            f'<path d="{_step_path(fr, edges, values)}" fill="{escape(colour)}" '
            f'fill-opacity="{opacity}" stroke="{escape(colour)}" stroke-width="1.6"/>'
        )
    keys = [(labels[0], REFERENCE_COLOUR), (labels[1], CURRENT_COLOUR)]
    parts += legend(fr, keys)
    notes = []
    outside = (hist.reference_outside, hist.current_outside)
    for name, (below, above) in zip(labels, outside, strict=True):
        sides = [f"{percent(v)} {side}" for v, side in ((below, "below"), (above, "above"))]
        shown = [t for t, v in zip(sides, (below, above), strict=True) if v >= 0.0005]
        if shown:
            notes.append(f"{name} {', '.join(shown)}")
    caption = "Outside the range shown: " + "; ".join(notes) + "." if notes else None
    return figure(fr, parts, title, caption, legend_width(keys))


def category_chart(
    bars: CategoryBars,
    *,
    title: str | None = None,
    labels: tuple[str, str] = ("reference", "current"),
    width: float = 480,
) -> Markup:
    """Horizontal grouped bars: each category's share in the reference and the current data."""
    row = 22.0
    label_w = 110.0
    height = TOP + row * max(len(bars.labels), 1) + BOTTOM
    top = min(max([*bars.reference, *bars.current, 1e-12]) * 1.05, 1.0)
    xticks = nice_ticks(0.0, top, count=4)
    fr = Frame(
        width,
        height,
        LinearScale(0.0, xticks[-1], LEFT + label_w - 40, width - RIGHT),
        LinearScale(0.0, 1.0, height - BOTTOM, TOP),
    )
    parts = []
    x0 = fr.x(0.0)
    for t in xticks:
        x = px(fr.x(t))
        parts.append(
            f'<line class="gridline" x1="{x}" x2="{x}" y1="{px(TOP)}" y2="{px(fr.bottom)}"/>'
        )
        parts.append(
            f'<text x="{x}" y="{px(fr.bottom + 15)}" text-anchor="middle">{percent(t)}</text>'
        )
    for i, key in enumerate(bars.labels):
        y = TOP + i * row
        # The last bar folds every other category: say so, not the sketch's "__other__".
        last = i == len(bars.labels) - 1
        name = OTHER_LABEL if last and key == OVERFLOW_CATEGORY else key
        shown = name if len(name) <= 18 else name[:17] + "…"
        parts.append(
            f'<text x="{px(x0 - 4)}" y="{px(y + row / 2)}" text-anchor="end" '
            f'dominant-baseline="middle"><title>{escape(name)}</title>{escape(shown)}</text>'
        )
        for j, (share, colour) in enumerate(
            ((bars.reference[i], REFERENCE_COLOUR), (bars.current[i], CURRENT_COLOUR))
        ):
            w = max(fr.x(share) - x0, 0.0)
            parts.append(
                f'<rect x="{px(x0)}" y="{px(y + 2 + j * 9)}" width="{px(w)}" height="8" '
                f'fill="{escape(colour)}"><title>{escape(labels[j])}: {escape(name)} '
                f"{percent(share)}</title></rect>"
            )
    parts.append(
        f'<line class="axis" x1="{px(x0)}" x2="{px(x0)}" y1="{px(TOP)}" y2="{px(fr.bottom)}"/>'
    )
    keys = [(labels[0], REFERENCE_COLOUR), (labels[1], CURRENT_COLOUR)]
    parts += legend(fr, keys)
    return figure(fr, parts, title, None, legend_width(keys))


def distribution_chart(
    reference: NumericSketch | CategoricalSketch,
    current: NumericSketch | CategoricalSketch,
    *,
    title: str | None = None,
    labels: tuple[str, str] = ("reference", "current"),
    bins: int | None = None,
    tail: float = DEFAULT_TAIL,
    top: int = 12,
    width: float = 480,
) -> Markup:
    """Reference vs current distribution of one feature, from its two sketches.

    Numeric sketches give overlaid step histograms on a linear axis between robust
    quantiles (:func:`~otel_ml.report.numeric_bins`; ``bins`` defaults to
    ``2 * sqrt(n)`` between 10 and 40 for the smaller sample); categorical sketches give
    grouped bars of the ``top`` categories plus "other".
    """
    if isinstance(reference, NumericSketch) and isinstance(current, NumericSketch):
        if bins is None:  # fewer, wider bins for small samples: less noise to read
            n = min((s.count for s in (reference, current) if s.count), default=0)
            bins = int(min(DEFAULT_BINS, max(10, 2 * math.sqrt(n))))
        hist = numeric_bins(reference, current, bins=bins, tail=tail)
        return histogram_chart(hist, title=title, labels=labels, width=width)
    if isinstance(reference, CategoricalSketch) and isinstance(current, CategoricalSketch):
        bars = category_bars(reference, current, top=top)
        return category_chart(bars, title=title, labels=labels, width=width)
    raise TypeError(
        f"reference and current must be sketches of the same kind, got "
        f"{type(reference).__name__} and {type(current).__name__}"
    )
