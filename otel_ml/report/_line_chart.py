"""Lines or steps over a numeric or time axis, with reference lines and shaded spans.

>>> line = line_chart([Series("psi", (0, 1, 2), (0.01, float("nan"), 0.3))], step=True)
>>> line.count("<path"), line.split('d="')[1].count("M")  # one line, two pieces
(1, 2)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from otel_ml.report._axes import nice_ticks, padded_range, time_ticks
from otel_ml.report._markup import Markup, escape
from otel_ml.report._svg import (
    PALETTE,
    Frame,
    axis_number,
    draw_axes,
    figure,
    legend,
    legend_width,
    make_frame,
    px,
    time_label,
)

__all__ = ["Band", "Marker", "Series", "line_chart"]


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


def _series_path(fr: Frame, s: Series, step: bool) -> str:
    d: list[str] = []
    pen_down = False
    prev_y = 0.0
    for xv, yv in zip(s.x, s.y, strict=True):
        if not (math.isfinite(xv) and math.isfinite(yv)):
            pen_down = False
            continue
        cx, cy = fr.x(xv), fr.y(yv)
        if not pen_down:
            d.append(f"M{px(cx)},{px(cy)}")
            pen_down = True
        elif step:
            d.append(f"L{px(cx)},{px(prev_y)}L{px(cx)},{px(cy)}")
        else:
            d.append(f"L{px(cx)},{px(cy)}")
        prev_y = cy
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
    fr = make_frame(width, height, xr, yr)
    if time_axis:
        xticks = time_ticks(*xr, count=max(3, int(width / 80)))  # a label per ~80 px
        spacing = xticks[1] - xticks[0] if len(xticks) > 1 else xr[1] - xr[0]
        if x_format is None:
            x_format = functools.partial(time_label, spacing=spacing)
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
            f'<rect x="{px(x0)}" y="{px(fr.top)}" width="{px(max(x1 - x0, 1.0))}" '
            f'height="{px(fr.bottom - fr.top)}" fill="{escape(b.colour)}" '
            f'fill-opacity="{b.opacity}">'
            f"<title>{escape(b.label)}</title></rect>"
        )
    parts += draw_axes(
        fr, xticks, yticks, x_format=x_format, y_format=y_format, x_label=x_label, y_label=y_label
    )
    for m in markers:
        if not math.isfinite(m.value):
            continue  # nothing to draw
        if m.axis == "x":
            x = px(fr.x(m.value))
            parts.append(
                f'<line x1="{x}" x2="{x}" y1="{px(fr.top)}" y2="{px(fr.bottom)}" '
                f'stroke="{escape(m.colour)}" '
                f'stroke-dasharray="4 3"/><text x="{x}" y="{px(fr.top + 10)}" dx="3">'
                f"{escape(m.label)}</text>"
            )
        else:
            y = px(fr.y(m.value))
            parts.append(
                f'<line x1="{px(fr.left)}" x2="{px(fr.right)}" y1="{y}" y2="{y}" '
                f'stroke="{escape(m.colour)}" '
                f'stroke-dasharray="4 3"/><text x="{px(fr.right)}" y="{y}" dy="-3" '
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
    parts += legend(fr, entries)
    return figure(fr, parts, title, None, legend_width(entries))
