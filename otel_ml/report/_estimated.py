"""Estimated performance (CBPE) as an HTML block and as terminal lines.

Shared by ``otel-ml drift`` (table output and ``--html``) and the drift page.

>>> from otel_ml.stats import EstimatedMetric, EstimatedPerformance
>>> m = EstimatedMetric(0.9, 0.88, 0.92)
>>> est = EstimatedPerformance("score", "1", 1000, 0.5, 0.95, m, m, m, m, m)
>>> print(estimated_performance_text(est).splitlines()[1])
metric     estimate  95 % band
>>> "<table" in estimated_performance_block(est)
True
"""

from __future__ import annotations

from otel_ml.report._markup import Markup, format_number, paragraph, table
from otel_ml.stats import EstimatedPerformance

__all__ = ["estimated_performance_block", "estimated_performance_text"]

_NAMES = {
    "accuracy": "accuracy",
    "precision": "precision",
    "recall": "recall",
    "f1": "F1",
    "roc_auc": "ROC AUC",
}


def _rows(est: EstimatedPerformance) -> list[list[str]]:
    return [
        [
            _NAMES.get(name, name),
            format_number(m.value),
            f"{format_number(m.lower)} … {format_number(m.upper)}",
        ]
        for name, m in est.metrics().items()
    ]


def _intro(est: EstimatedPerformance) -> str:
    if est.positive_class == "macro":  # multiclass: the predicted class is the largest column
        scores = (
            f"the class probabilities of {est.n_rows:,} rows (columns {est.output}; "
            "precision, recall, F1 and one-vs-rest ROC AUC are macro averages)"
        )
    else:
        scores = (
            f"the scores of {est.n_rows:,} rows (output {est.output!r}, the probability "
            f"of class {est.positive_class!r}, threshold {est.threshold:g})"
        )
    return (
        f"Estimated from {scores}, "
        "calibrated on the reference; no labels used (CBPE). The band is where the "
        "realised metric should fall if the model's scores mean what they meant on the "
        "reference: a concept change is not seen."
    )


def _band(est: EstimatedPerformance) -> str:
    return f"{est.confidence * 100:g} % band"


def estimated_performance_text(est: EstimatedPerformance) -> str:
    """Terminal lines: a heading, then one row per metric."""
    from otel_ml.report._text_table import format_table  # it imports the drift page, this too

    head = f"estimated performance without labels (CBPE, {est.n_rows:,} scored rows):"
    return head + "\n" + format_table(["metric", "estimate", _band(est)], _rows(est))


def estimated_performance_block(est: EstimatedPerformance) -> Markup:
    """An explanation and a table of the metrics with their bands."""
    return Markup(
        paragraph(_intro(est), muted=True) + table(["metric", "estimate", _band(est)], _rows(est))
    )
