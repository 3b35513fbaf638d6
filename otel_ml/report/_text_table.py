"""Plain-text tables for the terminal.

>>> print(format_table(["feature", "psi"], [["age", "0.31"], ["income", "0.02"]], right={1}))
feature   psi
-------  ----
age      0.31
income   0.02
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from otel_ml.report._drift_page import drift_status, ordered_features
from otel_ml.report._markup import format_number
from otel_ml.report._multivariate_card import multivariate_row

if TYPE_CHECKING:
    from otel_ml.stats import DriftReport

__all__ = ["drift_summary_table", "format_table"]


def format_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], *, right: Collection[int] = ()
) -> str:
    """Columns padded to their widest cell, two spaces apart; ``right`` columns right-aligned."""
    cells = [list(header), *([str(c) for c in r] for r in rows)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def line(r: Sequence[str]) -> str:
        parts = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    out = [line(cells[0]), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in cells[1:]]
    return "\n".join(out)


def drift_summary_table(report: DriftReport) -> str:
    """The terminal table: drifted features first, then by effect size; the multivariate
    check last, when there is one."""
    rows = []
    for fd in ordered_features(report.features):
        _, word = drift_status(fd, report.policy)
        rows.append(
            [
                fd.feature,
                fd.kind.value,
                fd.method,
                format_number(fd.statistic),
                format_number(fd.threshold),
                format_number(fd.p_value),
                f"{fd.n_reference:,}",
                f"{fd.n_current:,}",
                word.upper() if fd.drifted else word,
            ]
        )
    if report.multivariate is not None:
        rows.append(multivariate_row(report.multivariate, report.policy.min_rows))
    header = ["feature", "kind", "effect size", "value", "threshold", "p-value"]
    header += ["ref rows", "cur rows", "verdict"]
    return format_table(header, rows, right={3, 4, 5, 6, 7})
