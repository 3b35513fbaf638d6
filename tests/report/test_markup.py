"""HTML building blocks: a page is self-contained, balanced and escapes user text."""

from __future__ import annotations

from html.parser import HTMLParser

import numpy as np

from otel_ml.report import (
    Markup,
    Status,
    badge,
    card,
    details,
    distribution_chart,
    escape,
    grid,
    key_values,
    page,
    paragraph,
    section,
    table,
)
from otel_ml.sketch import NumericSketch

VOID = {"meta", "br", "img", "hr", "input", "link", "line", "rect", "path"}


class _Balance(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack.pop() != tag:
            self.problems.append(tag)


def _check(html: str) -> _Balance:
    p = _Balance()
    p.feed(html)
    p.close()
    assert not p.problems and not p.stack, (p.problems, p.stack)
    return p


def test_page_is_self_contained_and_balanced() -> None:
    ref = NumericSketch()
    ref.update(np.arange(100.0))
    html = page(
        "Drift <report>",
        section(
            "Summary & details",
            paragraph("3 of 5 features drifted"),
            table(["feature", "psi"], [["a", 0.3]], status=[Status.ALERT]),
            grid([card("a", distribution_chart(ref, ref), status=Status.OK)]),
            details("more", key_values({"rows": 10}), open=True),
        ),
        subtitle="profile.json vs today.csv",
        footer="otel-ml",
    )
    tags = _check(html).tags
    assert "script" not in tags and "link" not in tags and "img" not in tags
    assert tags.count("style") == 1 and "svg" in tags
    assert "<title>Drift &lt;report&gt;</title>" in html
    # Nothing loaded from elsewhere: the only URL is the SVG namespace.
    assert html.count("http") == html.count("http://www.w3.org/2000/svg")


def test_plain_strings_are_escaped_markup_is_not() -> None:
    evil = "<img src=x onerror=alert(1)>"
    html = page(
        evil,
        section(evil, paragraph(evil), card(evil, paragraph(evil))),
        details(evil),
        table([evil], [[evil]], caption=evil),
        key_values([(evil, evil)]),
        badge(evil, Status.WARNING),
        subtitle=evil,
        footer=evil,
    )
    assert "<img" not in html
    assert html.count("&lt;img src=x onerror=alert(1)&gt;") >= 10
    assert escape(Markup("<b>ok</b>")) == "<b>ok</b>"


def test_table_formats_numbers_and_colours_rows() -> None:
    t = table(
        ["feature", "statistic", "n", "verdict"],
        [["age", 0.123456, 1000, badge("drift", Status.ALERT)], ["zip", None, 5, "ok"]],
        status=[Status.ALERT, Status.OK],
    )
    _check(t)
    assert '<tr class="alert"><td>age</td><td class="num">0.123</td><td class="num">1000</td>' in t
    assert '<span class="badge alert">drift</span>' in t
    assert '<tr class="ok"><td>zip</td><td class="num">–</td>' in t
