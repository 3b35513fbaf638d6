"""HTML building blocks: escaping, a page with one CSS block, sections, cards, tables.

Every function returns :class:`Markup` (a ``str`` that is already safe HTML).
Anything else passed in — a feature name, a category, a file name, a model
name — is a plain ``str`` and gets escaped, so user-provided text can never
inject markup. There is no JavaScript and nothing is loaded from the network:
a page is one self-contained file.

Examples
--------
>>> escape('<b> & "x"')
'&lt;b&gt; &amp; &quot;x&quot;'
>>> str(badge("drift", Status.ALERT))
'<span class="badge alert">drift</span>'
>>> html = page("Report <1>", section("Summary", paragraph("ok")))
>>> html.startswith("<!DOCTYPE html>") and "<title>Report &lt;1&gt;</title>" in html
True
>>> "<script" in html or "http" in html.split("</style>")[1]
False
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from enum import Enum

__all__ = [
    "CSS",
    "Markup",
    "Status",
    "badge",
    "card",
    "details",
    "escape",
    "format_number",
    "grid",
    "key_values",
    "page",
    "paragraph",
    "section",
    "table",
]


class Markup(str):
    """A string that is already safe HTML (built by this module, never from user text)."""

    __slots__ = ()


class Status(Enum):
    """How a value is judged, which decides its colour."""

    OK = "ok"
    WARNING = "warning"
    ALERT = "alert"
    NEUTRAL = "neutral"


def escape(text: str | Markup) -> Markup:
    """Escape ``text`` for HTML/SVG text and attribute values; :class:`Markup` passes."""
    if isinstance(text, Markup):
        return text
    return Markup(html.escape(str(text), quote=True))


def format_number(value: float | int | None, digits: int = 3) -> str:
    """A compact, readable number: ``digits`` significant digits, no ``e`` when avoidable.

    >>> [format_number(v) for v in (0, 12345, 0.012345, 1.5e-7, 3.0, -2.25, float("nan"))]
    ['0', '12345', '0.0123', '1.5e-07', '3', '-2.25', 'NaN']
    >>> format_number(None), format_number(True), format_number(float("inf"))
    ('–', 'True', '∞')
    """
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if value == 0:
        return "0"
    if value.is_integer() and abs(value) < 1e9:
        return str(int(value))
    if 1e-4 <= abs(value) < 10 ** max(digits, 6):
        magnitude = math.floor(math.log10(abs(value)))
        decimals = max(0, digits - 1 - magnitude)
        text = f"{value:.{decimals}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    return f"{value:.{digits - 1}e}".replace(".00e", "e").replace("0e", "e")


def _cell(value: object) -> tuple[Markup, bool]:
    """Render one table cell; the flag says whether it is numeric (right-aligned)."""
    if isinstance(value, Markup):
        return value, False
    if value is None:
        return Markup("–"), True
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return escape(format_number(value)), True
    return escape(str(value)), False


def badge(text: str | Markup, status: Status) -> Markup:
    """A small coloured label, e.g. a verdict."""
    return Markup(f'<span class="badge {status.value}">{escape(text)}</span>')


def paragraph(text: str | Markup, *, muted: bool = False) -> Markup:
    cls = ' class="muted"' if muted else ""
    return Markup(f"<p{cls}>{escape(text)}</p>")


def section(title: str | Markup, *content: Markup) -> Markup:
    """A titled ``<section>``."""
    body = "\n".join(content)
    return Markup(f"<section>\n<h2>{escape(title)}</h2>\n{body}\n</section>")


def card(title: str | Markup, *content: Markup, status: Status | None = None) -> Markup:
    """A bordered box (one feature, one chart); the left border takes the status colour."""
    cls = f"card {status.value}" if status is not None else "card"
    body = "\n".join(content)
    return Markup(f'<div class="{cls}">\n<h3>{escape(title)}</h3>\n{body}\n</div>')


def grid(items: Iterable[Markup]) -> Markup:
    """Lay out cards side by side, wrapping to the window width."""
    return Markup('<div class="grid">\n' + "\n".join(items) + "\n</div>")


def details(summary: str | Markup, *content: Markup, open: bool = False) -> Markup:
    """A collapsible block (``<details>``: works without JavaScript)."""
    attr = " open" if open else ""
    body = "\n".join(content)
    return Markup(f"<details{attr}>\n<summary>{escape(summary)}</summary>\n{body}\n</details>")


def key_values(items: Mapping[str, object] | Iterable[tuple[str, object]]) -> Markup:
    """A compact two-column table (``name  value``) with numbers formatted.

    >>> print(key_values({"rows": 1200, "psi": 0.01234}).replace("</tr>", "</tr>\\n"))
    <table class="kv"><tr><th>rows</th><td>1200</td></tr>
    <tr><th>psi</th><td>0.0123</td></tr>
    </table>
    """
    pairs = items.items() if isinstance(items, Mapping) else items
    parts = [f"<tr><th>{escape(str(k))}</th><td>{_cell(v)[0]}</td></tr>" for k, v in pairs]
    return Markup('<table class="kv">' + "".join(parts) + "</table>")


def table(
    header: Sequence[str | Markup],
    rows: Iterable[Sequence[object]],
    *,
    status: Sequence[Status | None] | None = None,
    caption: str | Markup | None = None,
) -> Markup:
    """An HTML table; numbers are formatted and right-aligned, rows coloured by ``status``.

    >>> t = table(["feature", "psi"], [["a<b", 0.5], ["c", None]], status=[Status.ALERT, None])
    >>> '<tr class="alert"><td>a&lt;b</td><td class="num">0.5</td></tr>' in t
    True
    >>> '<td class="num">–</td>' in t
    True
    """
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    cap = f"<caption>{escape(caption)}</caption>" if caption is not None else ""
    lines = [f'<table class="data">{cap}']
    lines.append(f"<thead><tr>{head}</tr></thead><tbody>")
    for i, row in enumerate(rows):
        st = status[i] if status is not None and i < len(status) else None
        cls = f' class="{st.value}"' if st is not None else ""
        cells = []
        for value in row:
            text, numeric = _cell(value)
            cells.append(f'<td class="num">{text}</td>' if numeric else f"<td>{text}</td>")
        lines.append(f"<tr{cls}>{''.join(cells)}</tr>")
    lines.append("</tbody></table>")
    return Markup("\n".join(lines))


CSS = """
:root { --ok: #2e7d32; --warning: #b26a00; --alert: #c62828; --neutral: #607d8b;
  --ref: #4c78a8; --cur: #f58518; --fg: #1f2328; --muted: #59636e; --line: #d0d7de; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--fg); margin: 0 auto; padding: 24px; max-width: 1280px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 10px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 0 0 6px; overflow-wrap: anywhere; }
.muted, .subtitle { color: var(--muted); }
.subtitle { margin: 0 0 16px; }
table.data { border-collapse: collapse; width: 100%; margin: 8px 0; font-size: 13px; }
table.data caption { text-align: left; color: var(--muted); padding-bottom: 4px; }
table.data th, table.data td { border-bottom: 1px solid var(--line); padding: 4px 8px;
  text-align: left; vertical-align: top; }
table.data th { background: #f6f8fa; font-weight: 600; }
table.data td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.data tr.alert td { background: #fdecea; }
table.data tr.warning td { background: #fff4e0; }
table.data tr.ok td:first-child { border-left: 3px solid var(--ok); }
table.data tr.alert td:first-child { border-left: 3px solid var(--alert); }
table.data tr.warning td:first-child { border-left: 3px solid var(--warning); }
.badge { display: inline-block; padding: 0 7px; border-radius: 9px; color: #fff;
  font-size: 12px; font-weight: 600; }
.badge.ok { background: var(--ok); } .badge.warning { background: var(--warning); }
.badge.alert { background: var(--alert); } .badge.neutral { background: var(--neutral); }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 14px; }
.card { border: 1px solid var(--line); border-left: 4px solid var(--line); border-radius: 6px;
  padding: 10px 12px; background: #fff; }
.card.ok { border-left-color: var(--ok); }
.card.warning { border-left-color: var(--warning); }
.card.alert { border-left-color: var(--alert); }
.card.neutral { border-left-color: var(--neutral); }
figure.chart { margin: 4px 0; }
figure.chart figcaption { color: var(--muted); font-size: 12px; }
table.kv { border-collapse: collapse; margin: 6px 0 0; font-size: 12.5px; }
table.kv th { color: var(--muted); font-weight: normal; text-align: left; padding: 0 12px 0 0;
  vertical-align: top; }
table.kv td { padding: 0; font-variant-numeric: tabular-nums; }
details { margin: 8px 0; } summary { cursor: pointer; font-weight: 600; }
svg.chart { width: 100%; max-width: 720px; height: auto; display: block; }
svg.chart text { font: 11px system-ui, sans-serif; fill: var(--muted); }
svg.chart text.title { font-size: 12px; fill: var(--fg); font-weight: 600; }
svg.chart .axis { stroke: #8c959f; stroke-width: 1; }
svg.chart .gridline { stroke: #eaeef2; stroke-width: 1; }
footer { margin-top: 32px; color: var(--muted); font-size: 12px; }
@media print { .grid { grid-template-columns: 1fr 1fr; } details { display: block; } }
"""


def page(
    title: str,
    *content: Markup,
    subtitle: str | Markup | None = None,
    footer: str | Markup | None = None,
) -> str:
    """A complete, self-contained HTML document (one inline CSS block, no scripts)."""
    sub = f'<p class="subtitle">{escape(subtitle)}</p>\n' if subtitle is not None else ""
    foot = f"<footer>{escape(footer)}</footer>\n" if footer is not None else ""
    body = "\n".join(content)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"<h1>{escape(title)}</h1>\n{sub}{body}\n{foot}</body>\n</html>\n"
    )
