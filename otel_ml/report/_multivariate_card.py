"""The multivariate (PCA reconstruction error) verdict as an HTML card and a table row.

The CLI's ``--html`` page, its terminal table and the evaluator's model page all show
:class:`~otel_ml.stats.MultivariateDrift` the same way.
"""

from __future__ import annotations

from otel_ml.report._charts import distribution_chart
from otel_ml.report._markup import (
    Markup,
    Status,
    badge,
    card,
    escape,
    format_number,
    key_values,
    paragraph,
)
from otel_ml.sketch import NumericSketch
from otel_ml.stats import MultivariateDrift

__all__ = ["MULTIVARIATE_LABEL", "multivariate_card", "multivariate_row", "multivariate_status"]

#: How the check is named where features are listed.
MULTIVARIATE_LABEL = "(multivariate)"


def multivariate_status(mv: MultivariateDrift, min_rows: int) -> tuple[Status, str]:
    """Colour and one word: ``drift``, ``few rows`` below ``min_rows``, else ``ok``."""
    if mv.drifted:
        return Status.ALERT, "drift"
    if min(mv.n_current, mv.n_reference) < min_rows:
        return Status.NEUTRAL, "few rows"
    return Status.OK, "ok"


def multivariate_row(mv: MultivariateDrift, min_rows: int) -> list[str]:
    """The terminal table's row (the columns of ``drift_summary_table``)."""
    _, word = multivariate_status(mv, min_rows)
    return [
        MULTIVARIATE_LABEL,
        f"pca {len(mv.features)}->{mv.n_components}",
        mv.effect,
        format_number(mv.statistic),
        format_number(mv.threshold),
        format_number(mv.p_value),
        f"{mv.n_reference:,}",
        f"{mv.n_current:,}",
        word.upper() if mv.drifted else word,
    ]


def multivariate_card(
    mv: MultivariateDrift,
    *,
    min_rows: int,
    reference_errors: NumericSketch | None = None,
    current_errors: NumericSketch | None = None,
    labels: tuple[str, str] = ("reference", "current"),
) -> Markup:
    """A card: verdict and reason, the two error distributions when given, the numbers."""
    st, word = multivariate_status(mv, min_rows)
    body = [
        paragraph(Markup(f"{badge(word, st)} {escape(mv.reason)}")),
        paragraph(
            f"Reconstruction error of each row by a PCA of the {len(mv.features)} "
            f"standardised numeric features of the reference ({mv.n_components} "
            "components): it grows when the features stop moving together as they did.",
            muted=True,
        ),
    ]
    if reference_errors is not None and current_errors is not None and current_errors.count:
        body.append(distribution_chart(reference_errors, current_errors, labels=labels))
    body.append(
        key_values(
            [
                (f"{mv.effect} (effect)", mv.statistic),
                ("threshold", mv.threshold),
                (f"{mv.test} p-value", mv.p_value),
                ("mean error: reference / current",
                 f"{format_number(mv.reference_mean_error)} / {format_number(mv.mean_error)}"),
                ("rows: reference / current", f"{mv.n_reference:,} / {mv.n_current:,}"),
                ("features", ", ".join(mv.features)),
            ]
        )
    )
    return card(f"multivariate: {mv.method}", *body, status=st)
