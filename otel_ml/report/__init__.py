"""Self-contained HTML reports with inline SVG charts (no JavaScript, no network).

Shared by ``otel-ml drift --html``, the evaluator's report page and the demo.
Build blocks with the functions below and wrap them in :func:`page`; every
plain ``str`` passed in is escaped, :class:`Markup` is trusted.

Usage
-----
>>> from otel_ml.sketch import NumericSketch
>>> ref, cur = NumericSketch(), NumericSketch()
>>> ref.update([1.0, 2.0, 2.0, 3.0]); cur.update([2.0, 3.0, 3.0, 4.0])
>>> html = page(
...     "Drift report",
...     section(
...         "Features",
...         table(["feature", "PSI", "verdict"], [["x", 0.42, badge("drift", Status.ALERT)]],
...               status=[Status.ALERT]),
...         grid([card("x", distribution_chart(ref, cur), status=Status.ALERT)]),
...     ),
... )
>>> html.count("<svg"), "<script" in html
(1, False)

Building blocks
---------------
- :func:`page`, :func:`section`, :func:`card`, :func:`grid`, :func:`details`,
  :func:`paragraph`, :func:`key_values`, :func:`table` (rows coloured by
  :class:`Status`), :func:`badge`, :func:`escape`, :func:`format_number`.
- :func:`distribution_chart` (numeric: overlaid step histograms re-binned to
  equal-width bins between robust quantiles; categorical: grouped top-K bars plus
  "other"), with the lower-level :func:`numeric_bins` / :func:`histogram_chart`
  and :func:`category_bars` / :func:`category_chart`.
- :func:`drift_page` (a whole page for a ``DriftReport``), :func:`drift_table`,
  :func:`feature_cards` (per-feature verdict, plot and statistics from any
  mapping of sketches), :func:`drift_status` and :func:`too_few_rows`.
- :func:`estimated_performance_block` / :func:`estimated_performance_text`: the
  estimated performance (CBPE) of a ``DriftReport``, for the page and the terminal.
- :func:`drift_summary_table` (the same verdicts as a terminal table) and
  :func:`format_table` (any plain-text table).
- :func:`line_chart` of :class:`Series` (lines or steps, NaN = gap) with
  :class:`Marker` lines and shaded :class:`Band` spans, for values over time.
"""

from otel_ml.report._axes import nice_ticks
from otel_ml.report._charts import (
    CURRENT_COLOUR,
    REFERENCE_COLOUR,
    category_chart,
    distribution_chart,
    histogram_chart,
)
from otel_ml.report._drift_page import (
    drift_page,
    drift_status,
    drift_table,
    feature_cards,
    ordered_features,
    too_few_rows,
)
from otel_ml.report._estimated import estimated_performance_block, estimated_performance_text
from otel_ml.report._histogram import CategoryBars, DisplayHistogram, category_bars, numeric_bins
from otel_ml.report._line_chart import Band, Marker, Series, line_chart
from otel_ml.report._markup import (
    CSS,
    Markup,
    Status,
    badge,
    card,
    details,
    escape,
    format_number,
    grid,
    key_values,
    page,
    paragraph,
    section,
    table,
)
from otel_ml.report._multivariate_card import multivariate_card
from otel_ml.report._text_table import drift_summary_table, format_table

__all__ = [
    "estimated_performance_block",
    "estimated_performance_text",
    "CSS",
    "CURRENT_COLOUR",
    "REFERENCE_COLOUR",
    "Band",
    "CategoryBars",
    "DisplayHistogram",
    "Marker",
    "Markup",
    "Series",
    "Status",
    "badge",
    "card",
    "category_bars",
    "category_chart",
    "details",
    "distribution_chart",
    "drift_page",
    "drift_status",
    "drift_summary_table",
    "drift_table",
    "escape",
    "feature_cards",
    "format_number",
    "format_table",
    "grid",
    "histogram_chart",
    "key_values",
    "line_chart",
    "multivariate_card",
    "nice_ticks",
    "numeric_bins",
    "ordered_features",
    "page",
    "paragraph",
    "section",
    "table",
    "too_few_rows",
]
