"""The SVG frame shared by the charts: margins, axes, legend, the ``<figure>`` wrapper.

>>> axis_number(2500.0), axis_number(200000.0)
('2500', '200k')
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from otel_ml.report._axes import LinearScale, format_time
from otel_ml.report._markup import Markup, escape, format_number

__all__ = [
    "BOTTOM",
    "LEFT",
    "PALETTE",
    "RIGHT",
    "TOP",
    "Frame",
    "axis_number",
    "draw_axes",
    "figure",
    "legend",
    "legend_width",
    "make_frame",
    "percent",
    "px",
    "time_label",
]

PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#eeca3b", "#9d755d")
LEFT, RIGHT, TOP, BOTTOM = 52.0, 14.0, 26.0, 34.0


def px(v: float) -> str:
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


def time_label(t: float, *, spacing: float) -> str:
    return format_time(t, spacing)


def percent(share: float) -> str:
    return f"{format_number(100 * share, 2)}%"


@dataclass(frozen=True)
class Frame:
    width: float
    height: float
    x: LinearScale
    y: LinearScale

    @property
    def left(self) -> float:
        return LEFT

    @property
    def right(self) -> float:
        return self.width - RIGHT

    @property
    def top(self) -> float:
        return TOP

    @property
    def bottom(self) -> float:
        return self.height - BOTTOM


def make_frame(
    width: float, height: float, xr: tuple[float, float], yr: tuple[float, float]
) -> Frame:
    return Frame(
        width,
        height,
        LinearScale(xr[0], xr[1], LEFT, width - RIGHT),
        LinearScale(yr[0], yr[1], height - BOTTOM, TOP),
    )


def draw_axes(
    fr: Frame,
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
        y = px(fr.y(t))
        out.append(
            f'<line class="gridline" x1="{px(fr.left)}" x2="{px(fr.right)}" y1="{y}" y2="{y}"/>'
        )
        out.append(
            f'<text x="{px(fr.left - 4)}" y="{y}" text-anchor="end" dominant-baseline="middle">'
            f"{escape(y_format(t))}</text>"
        )
    for t in xticks:
        x = px(fr.x(t))
        text = x_format(t)
        # A label centred on a tick at the right edge would be cut off by the frame.
        anchor = "end" if fr.x(t) + 3.3 * len(text) > fr.width else "middle"
        out.append(
            f'<line class="axis" x1="{x}" x2="{x}" y1="{px(fr.bottom)}" y2="{px(fr.bottom + 4)}"/>'
        )
        out.append(
            f'<text x="{x}" y="{px(fr.bottom + 15)}" text-anchor="{anchor}">{escape(text)}</text>'
        )
    out.append(
        f'<line class="axis" x1="{px(fr.left)}" x2="{px(fr.right)}" '
        f'y1="{px(fr.bottom)}" y2="{px(fr.bottom)}"/>'
    )
    out.append(
        f'<line class="axis" x1="{px(fr.left)}" x2="{px(fr.left)}" '
        f'y1="{px(fr.top)}" y2="{px(fr.bottom)}"/>'
    )
    if x_label:
        out.append(
            f'<text x="{px((fr.left + fr.right) / 2)}" y="{px(fr.height - 3)}" '
            f'text-anchor="middle">{escape(x_label)}</text>'
        )
    if y_label:
        mid = px((fr.top + fr.bottom) / 2)
        out.append(
            f'<text x="10" y="{mid}" text-anchor="middle" transform="rotate(-90 10 {mid})">'
            f"{escape(y_label)}</text>"
        )
    return out


def legend_width(entries: Sequence[tuple[str, str]]) -> float:
    return sum(7.0 * len(name) + 22 for name, _ in entries)


def legend(fr: Frame, entries: Sequence[tuple[str, str]]) -> list[str]:
    out = []
    x = fr.right
    for name, colour in reversed(entries):
        x -= 7.0 * len(name) + 22
        out.append(f'<rect x="{px(x)}" y="6" width="10" height="10" fill="{escape(colour)}"/>')
        out.append(f'<text x="{px(x + 14)}" y="15">{escape(name)}</text>')
    return out


TITLE_ROW = 18.0
_TITLE_CHAR = 7.2  # average width of a 12px bold character


def figure(
    fr: Frame, parts: Sequence[str], title: str | None, caption: str | None, legend_w: float = 0
) -> Markup:
    """Wrap ``parts`` (drawn in ``fr``) in a ``<figure>`` with ``title`` top left.

    The title shares the top row with the legend when it fits beside it; otherwise
    it gets a row of its own above the chart (never drawn under the legend), and
    is shortened with "…" only when it is wider than the whole chart.

    >>> fr = make_frame(300, 100, (0, 1), (0, 1))
    >>> 'viewBox="0 0 300.0 100.0"' in figure(fr, [], "short", None, 100)
    True
    >>> long = figure(fr, [], "a title much too long to sit beside the legend", None, 200)
    >>> 'viewBox="0 0 300.0 118.0"' in long, 'translate(0,18.0)' in long
    (True, True)
    """
    head = ""
    shift = 0.0
    if title:
        beside = int((fr.width - legend_w - 12) / _TITLE_CHAR)
        room = beside
        if len(title) > beside:
            shift = TITLE_ROW if legend_w > 0 else 0.0
            room = max(int((fr.width - 8) / _TITLE_CHAR), 8)
        shown = title if len(title) <= room else title[: room - 1] + "…"
        head = (
            f'<text class="title" x="4" y="15"><title>{escape(title)}</title>{escape(shown)}</text>'
        )

    label = f' aria-label="{escape(title)}"' if title else ""
    body = "\n".join(parts)
    if shift:
        body = f'<g transform="translate(0,{px(shift)})">\n{body}\n</g>'
    svg = (
        f'<svg class="chart" viewBox="0 0 {px(fr.width)} {px(fr.height + shift)}" '
        f'xmlns="http://www.w3.org/2000/svg" role="img"{label}>{head}\n' + body + "\n</svg>"
    )
    cap = f"<figcaption>{escape(caption)}</figcaption>" if caption else ""
    return Markup(f'<figure class="chart">{svg}{cap}</figure>')
