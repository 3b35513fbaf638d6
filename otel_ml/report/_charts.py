"""Inline SVG charts: overlaid distributions, category bars, lines/steps over time.

Each function returns :class:`~otel_ml.report.Markup` holding one
``<figure>`` with an ``<svg>`` (scaled to the page width by the CSS of
:func:`~otel_ml.report.page`) and an optional caption. Labels, legends and
tooltips (SVG ``<title>``, shown on hover without JavaScript) are escaped.

Examples
--------
>>> import numpy as np
>>> from otel_ml.stats import NumericSketch
>>> ref, cur = NumericSketch(), NumericSketch()
>>> ref.update(np.random.default_rng(0).normal(0, 1, 5000))
>>> cur.update(np.random.default_rng(1).normal(1, 1, 5000))
>>> svg = distribution_chart(ref, cur, title="age <years>")
>>> svg.count("<path"), "age &lt;years&gt;" in svg
(2, True)
>>> line = line_chart([Series("psi", (0, 1, 2), (0.01, float("nan"), 0.3))], step=True)
>>> line.count("<path"), line.split('d="')[1].count("M")  # one line, two pieces
(1, 2)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from otel_ml.report._axes import LinearScale, format_time, nice_ticks, padded_range, time_ticks
from otel_ml.report._histogram import (
    DEFAULT_BINS,
    DEFAULT_TAIL,
    CategoryBars,
    DisplayHistogram,
    category_bars,
    numeric_bins,
)
from otel_ml.report._markup import Markup, escape, format_number
from otel_ml.stats import CategoricalSketch, NumericSketch

__all__ = [
    "REFERENCE_COLOUR",
    "CURRENT_COLOUR",
    "Band",
    "Marker",
    "Series",
    "category_chart",
    "distribution_chart",
    "histogram_chart",
    "axis_number",
    "line_chart",
]

REFERENCE_COLOUR = "#4c78a8"
CURRENT_COLOUR = "#f58518"
PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#eeca3b", "#9d755d")
_LEFT, _RIGHT, _TOP, _BOTTOM = 52.0, 14.0, 26.0, 34.0


def _f(v: float) -> str:
    """Pixel coordinate text (one decimal is plenty)."""
    return f"{v:.1f}"


def axis_number(value: float) -> str:
    """A short tick label: ``format_number`` below 10,000, then k / M / G suffixes.

    >>> [axis_number(v) for v in (0.25, 2500.0, 200000.0, -1.5e6, 3e9, 1e13)]
    ['0.25', '2500', '200k', '-1.5M', '3G', '1e+13']
    """
    a = abs(value)
    for limit, div, suffix in ((1e12, 0.0, ""), (1e9, 1e9, "G"), (1e6, 1e6, "M"), (1e4, 1e3, "k")):
        if a >= limit:
            return format_number(value) if not div else format_number(value / div) + suffix
    return format_number(value)


def _time_label(t: float, *, spacing: float) -> str:
    return format_time(t, spacing)


def _pct(share: float) -> str:
    return f"{format_number(100 * share, 2)}%"


@dataclass(frozen=True)
class _Frame:
    width: float
    height: float
    x: LinearScale
    y: LinearScale

    @property
    def left(self) -> float:
        return _LEFT

    @property
    def right(self) -> float:
        return self.width - _RIGHT

    @property
    def top(self) -> float:
        return _TOP

    @property
    def bottom(self) -> float:
        return self.height - _BOTTOM


def _frame(width: float, height: float, xr: tuple[float, float], yr: tuple[float, float]) -> _Frame:
    return _Frame(
        width,
        height,
        LinearScale(xr[0], xr[1], _LEFT, width - _RIGHT),
        LinearScale(yr[0], yr[1], height - _BOTTOM, _TOP),
    )


def _axes(
    fr: _Frame,
    xticks: Sequence[float],
    yticks: Sequence[float],
    *,
    x_format: Callable[[float], str],
    y_format: Callable[[float], str],
    x_label: str | None,
    y_label: str | None,
) -> list[str]:
    out = []
    for t in yticks:
        y = _f(fr.y(t))
        out.append(
            f'<line class="gridline" x1="{_f(fr.left)}" x2="{_f(fr.right)}" y1="{y}" y2="{y}"/>'
        )
        out.append(
            f'<text x="{_f(fr.left - 4)}" y="{y}" text-anchor="end" dominant-baseline="middle">'
            f"{escape(y_format(t))}</text>"
        )
    for t in xticks:
        x = _f(fr.x(t))
        out.append(
            f'<line class="axis" x1="{x}" x2="{x}" y1="{_f(fr.bottom)}" y2="{_f(fr.bottom + 4)}"/>'
        )
        out.append(
            f'<text x="{x}" y="{_f(fr.bottom + 15)}" text-anchor="middle">'
            f"{escape(x_format(t))}</text>"
        )
    out.append(
        f'<line class="axis" x1="{_f(fr.left)}" x2="{_f(fr.right)}" '
        f'y1="{_f(fr.bottom)}" y2="{_f(fr.bottom)}"/>'
    )
    out.append(
        f'<line class="axis" x1="{_f(fr.left)}" x2="{_f(fr.left)}" '
        f'y1="{_f(fr.top)}" y2="{_f(fr.bottom)}"/>'
    )
    if x_label:
        out.append(
            f'<text x="{_f((fr.left + fr.right) / 2)}" y="{_f(fr.height - 3)}" '
            f'text-anchor="middle">{escape(x_label)}</text>'
        )
    if y_label:
        mid = _f((fr.top + fr.bottom) / 2)
        out.append(
            f'<text x="10" y="{mid}" text-anchor="middle" transform="rotate(-90 10 {mid})">'
            f"{escape(y_label)}</text>"
        )
    return out


def _legend_width(entries: Sequence[tuple[str, str]]) -> float:
    return sum(7.0 * len(name) + 22 for name, _ in entries)


def _legend(fr: _Frame, entries: Sequence[tuple[str, str]]) -> list[str]:
    out = []
    x = fr.right
    for name, colour in reversed(entries):
        x -= 7.0 * len(name) + 22
        out.append(f'<rect x="{_f(x)}" y="6" width="10" height="10" fill="{escape(colour)}"/>')
        out.append(f'<text x="{_f(x + 14)}" y="15">{escape(name)}</text>')
    return out


def _svg(
    fr: _Frame, parts: Sequence[str], title: str | None, caption: str | None, legend_w: float = 0
) -> Markup:
    head = ""
    if title:
        room = max(int((fr.width - legend_w - 12) / 7.2), 8)
        shown = title if len(title) <= room else title[: room - 1] + "…"
        head = (
            f'<text class="title" x="4" y="15"><title>{escape(title)}</title>{escape(shown)}</text>'
        )

    label = f' aria-label="{escape(title)}"' if title else ""
    svg = (
        f'<svg class="chart" viewBox="0 0 {_f(fr.width)} {_f(fr.height)}" '
        f'xmlns="http://www.w3.org/2000/svg" role="img"{label}>{head}\n'
        + "\n".join(parts)
        + "\n</svg>"
    )
    cap = f"<figcaption>{escape(caption)}</figcaption>" if caption else ""
    return Markup(f'<figure class="chart">{svg}{cap}</figure>')


def _step_path(fr: _Frame, edges: Sequence[float], values: Sequence[float]) -> str:
    y0 = _f(fr.y(0.0))
    d = [f"M{_f(fr.x(edges[0]))},{y0}"]
    for i, v in enumerate(values):
        y = _f(fr.y(v))
        d.append(f"L{_f(fr.x(edges[i]))},{y}L{_f(fr.x(edges[i + 1]))},{y}")
    d.append(f"L{_f(fr.x(edges[-1]))},{y0}Z")
    return "".join(d)


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
    top = max([*hist.reference, *hist.current, 1e-12]) * 1.08
    yticks = nice_ticks(0.0, top, count=4)
    fr = _frame(width, height, (hist.edges[0], hist.edges[-1]), (0.0, yticks[-1]))
    x0, x1 = hist.edges[0], hist.edges[-1]
    xticks = [t for t in nice_ticks(x0, x1) if x0 <= t <= x1]
    parts = _axes(
        fr, xticks, yticks, x_format=axis_number, y_format=_pct, x_label=x_label, y_label=None
    )
    for values, colour, opacity in (
        (hist.reference, REFERENCE_COLOUR, 0.35),
        (hist.current, CURRENT_COLOUR, 0.18),
    ):
        parts.append(
            f'<path d="{_step_path(fr, hist.edges, values)}" fill="{escape(colour)}" '
            f'fill-opacity="{opacity}" stroke="{escape(colour)}" stroke-width="1.6"/>'
        )
    legend = [(labels[0], REFERENCE_COLOUR), (labels[1], CURRENT_COLOUR)]
    parts += _legend(fr, legend)
    notes = []
    outside = (hist.reference_outside, hist.current_outside)
    for name, (below, above) in zip(labels, outside, strict=True):
        sides = [f"{_pct(v)} {side}" for v, side in ((below, "below"), (above, "above"))]
        shown = [t for t, v in zip(sides, (below, above), strict=True) if v >= 0.0005]
        if shown:
            notes.append(f"{name} {', '.join(shown)}")
    caption = "Outside the range shown: " + "; ".join(notes) + "." if notes else None
    return _svg(fr, parts, title, caption, _legend_width(legend))


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
    height = _TOP + row * max(len(bars.labels), 1) + _BOTTOM
    top = max([*bars.reference, *bars.current, 1e-12]) * 1.05
    xticks = nice_ticks(0.0, top, count=4)
    fr = _Frame(
        width,
        height,
        LinearScale(0.0, xticks[-1], _LEFT + label_w - 40, width - _RIGHT),
        LinearScale(0.0, 1.0, height - _BOTTOM, _TOP),
    )
    parts = []
    x0 = fr.x(0.0)
    for t in xticks:
        x = _f(fr.x(t))
        parts.append(
            f'<line class="gridline" x1="{x}" x2="{x}" y1="{_f(_TOP)}" y2="{_f(fr.bottom)}"/>'
        )
        parts.append(
            f'<text x="{x}" y="{_f(fr.bottom + 15)}" text-anchor="middle">{_pct(t)}</text>'
        )
    for i, name in enumerate(bars.labels):
        y = _TOP + i * row
        shown = name if len(name) <= 18 else name[:17] + "…"
        parts.append(
            f'<text x="{_f(x0 - 4)}" y="{_f(y + row / 2)}" text-anchor="end" '
            f'dominant-baseline="middle"><title>{escape(name)}</title>{escape(shown)}</text>'
        )
        for j, (share, colour) in enumerate(
            ((bars.reference[i], REFERENCE_COLOUR), (bars.current[i], CURRENT_COLOUR))
        ):
            w = max(fr.x(share) - x0, 0.0)
            parts.append(
                f'<rect x="{_f(x0)}" y="{_f(y + 2 + j * 9)}" width="{_f(w)}" height="8" '
                f'fill="{escape(colour)}"><title>{escape(labels[j])}: {escape(name)} {_pct(share)}'
                "</title></rect>"
            )
    parts.append(
        f'<line class="axis" x1="{_f(x0)}" x2="{_f(x0)}" y1="{_f(_TOP)}" y2="{_f(fr.bottom)}"/>'
    )
    legend = [(labels[0], REFERENCE_COLOUR), (labels[1], CURRENT_COLOUR)]
    parts += _legend(fr, legend)
    return _svg(fr, parts, title, None, _legend_width(legend))


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


@dataclass(frozen=True)
class Series:
    """One line of a :func:`line_chart`; NaN values leave a gap."""

    name: str
    x: Sequence[float]
    y: Sequence[float]
    colour: str | None = None
    dashed: bool = False


@dataclass(frozen=True)
class Marker:
    """A labelled reference line: vertical at ``x`` (``axis="x"``) or horizontal at ``y``."""

    value: float
    label: str = ""
    axis: str = "x"
    colour: str = "#c62828"


@dataclass(frozen=True)
class Band:
    """A shaded span of the x axis (an alert that was firing, a drift period)."""

    start: float
    end: float
    label: str = ""
    colour: str = "#c62828"
    opacity: float = field(default=0.10)


def _series_path(fr: _Frame, s: Series, step: bool) -> str:
    d: list[str] = []
    pen_down = False
    prev_y = 0.0
    for xv, yv in zip(s.x, s.y, strict=True):
        if not (math.isfinite(xv) and math.isfinite(yv)):
            pen_down = False
            continue
        px, py = fr.x(xv), fr.y(yv)
        if not pen_down:
            d.append(f"M{_f(px)},{_f(py)}")
            pen_down = True
        elif step:
            d.append(f"L{_f(px)},{_f(prev_y)}L{_f(px)},{_f(py)}")
        else:
            d.append(f"L{_f(px)},{_f(py)}")
        prev_y = py
    return "".join(d)


def line_chart(
    series: Sequence[Series],
    *,
    title: str | None = None,
    x_label: str | None = None,
    y_label: str | None = None,
    step: bool = False,
    x_format: Callable[[float], str] | None = None,
    y_format: Callable[[float], str] = axis_number,
    y_range: tuple[float, float] | None = None,
    time_axis: bool = False,
    markers: Sequence[Marker] = (),
    bands: Sequence[Band] = (),
    width: float = 640,
    height: float = 240,
) -> Markup:
    """Lines (or steps, ``step=True``) over a numeric x axis, with optional
    horizontal/vertical :class:`Marker` lines and shaded :class:`Band` spans.

    With ``time_axis=True`` the x values are epoch seconds: ticks fall on whole
    seconds, minutes, hours or days (UTC) and are labelled as times, unless
    ``x_format`` says otherwise.

    >>> svg = line_chart([Series("rows", (0.0, 1800.0, 3600.0), (5, 7, 6))], time_axis=True)
    >>> "00:30" in svg and "01:00" in svg
    True
    """
    xs = [float(v) for s in series for v in s.x] + [b.start for b in bands] + [b.end for b in bands]
    xs += [m.value for m in markers if m.axis == "x"]
    ys = [float(v) for s in series for v in s.y] + [m.value for m in markers if m.axis == "y"]
    fin_x = [v for v in xs if math.isfinite(v)]
    xr = (min(fin_x), max(fin_x)) if fin_x else (0.0, 1.0)
    if xr[0] == xr[1]:
        xr = (xr[0] - 1.0, xr[1] + 1.0)
    yr = y_range if y_range is not None else padded_range(ys)
    fr = _frame(width, height, xr, yr)
    if time_axis:
        xticks = time_ticks(*xr)
        spacing = xticks[1] - xticks[0] if len(xticks) > 1 else xr[1] - xr[0]
        if x_format is None:
            x_format = functools.partial(_time_label, spacing=spacing)
    else:
        xticks = [t for t in nice_ticks(*xr) if xr[0] <= t <= xr[1]]
    x_format = x_format or axis_number
    yticks = [t for t in nice_ticks(*yr, count=4) if yr[0] <= t <= yr[1]]
    parts = []
    for b in bands:
        if not (math.isfinite(b.start) and math.isfinite(b.end)):
            continue
        x0, x1 = fr.x(max(b.start, xr[0])), fr.x(min(b.end, xr[1]))
        parts.append(
            f'<rect x="{_f(x0)}" y="{_f(fr.top)}" width="{_f(max(x1 - x0, 1.0))}" '
            f'height="{_f(fr.bottom - fr.top)}" fill="{escape(b.colour)}" '
            f'fill-opacity="{b.opacity}">'
            f"<title>{escape(b.label)}</title></rect>"
        )
    parts += _axes(
        fr, xticks, yticks, x_format=x_format, y_format=y_format, x_label=x_label, y_label=y_label
    )
    for m in markers:
        if not math.isfinite(m.value):
            continue  # nothing to draw
        if m.axis == "x":
            x = _f(fr.x(m.value))
            parts.append(
                f'<line x1="{x}" x2="{x}" y1="{_f(fr.top)}" y2="{_f(fr.bottom)}" '
                f'stroke="{escape(m.colour)}" '
                f'stroke-dasharray="4 3"/><text x="{x}" y="{_f(fr.top + 10)}" dx="3">'
                f"{escape(m.label)}</text>"
            )
        else:
            y = _f(fr.y(m.value))
            parts.append(
                f'<line x1="{_f(fr.left)}" x2="{_f(fr.right)}" y1="{y}" y2="{y}" '
                f'stroke="{escape(m.colour)}" '
                f'stroke-dasharray="4 3"/><text x="{_f(fr.right)}" y="{y}" dy="-3" '
                f'text-anchor="end">{escape(m.label)}</text>'
            )
    entries = []
    for i, s in enumerate(series):
        colour = s.colour or PALETTE[i % len(PALETTE)]
        dash = ' stroke-dasharray="5 3"' if s.dashed else ""
        parts.append(
            f'<path d="{_series_path(fr, s, step)}" fill="none" stroke="{escape(colour)}" '
            f'stroke-width="1.8"{dash}><title>{escape(s.name)}</title></path>'
        )
        entries.append((s.name, colour))
    parts += _legend(fr, entries)
    return _svg(fr, parts, title, None, _legend_width(entries))
