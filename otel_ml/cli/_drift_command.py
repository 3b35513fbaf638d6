"""``otel-ml drift PROFILE CURRENT [--json] [--html report.html]``: compare data with a profile.

Prints a table (or, with ``--json``, the machine-readable report on stdout),
optionally writes a self-contained HTML report, and exits 1 when any feature
drifted or the multivariate check did (a profile with a multivariate model), 0 when
none did, 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from otel_ml._errors import ConfigurationError
from otel_ml._progress import reading_progress
from otel_ml.cli._data_files import DataFileError, Table, read_table
from otel_ml.cli._profile_command import add_progress_arguments, numeric_or_fail
from otel_ml.report import drift_summary_table, estimated_performance_text, too_few_rows
from otel_ml.semconv import PREDICTION_OUTPUT_SCORE

if TYPE_CHECKING:
    from otel_ml.sketch import NumericSketch, Profile
    from otel_ml.stats import DriftPolicy, DriftReport

__all__ = ["REPORT_FORMAT", "add_parser", "report_dict"]

REPORT_FORMAT = "otel_ml.drift_report"


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "drift",
        help="compare a CSV/Parquet file with a reference profile",
        description="Compare current data with a reference profile. Exit status: 0 no drift, "
        "1 drift found, 2 bad input.",
    )
    p.add_argument(
        "profile",
        metavar="PROFILE",
        help="profile written by `otel-ml profile`, or an MLflow URI (models:/NAME/VERSION, "
        "models:/NAME@ALIAS, runs:/RUN_ID/PATH)",
    )
    p.add_argument("current", metavar="CURRENT", help="CSV (.csv, .tsv, .gz) or Parquet file")
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    p.add_argument("--html", metavar="PATH", help="write a self-contained HTML report")
    p.add_argument(
        "--ignore-missing",
        action="store_true",
        help="compare the columns present when some profiled columns are missing",
    )
    p.add_argument(
        "--prediction",
        metavar="COL[,COL]",
        help="column holding the model's output, compared with the profile's predictions "
        "(reported apart, not part of the verdict); with a profile built with --label and a "
        "probability column, also the performance the scores promise (estimated, CBPE); "
        "several: a multiclass model's class probability columns, as profiled",
    )
    g = p.add_argument_group("verdict policy (defaults: see docs/drift.md)")
    g.add_argument("--alpha", type=float, metavar="P", help="significance level before correction")
    g.add_argument(
        "--min-rows", type=int, metavar="N", help="fewest rows on each side to conclude anything"
    )
    g.add_argument(
        "--numeric-threshold", type=float, metavar="X", help="effect size for numeric features"
    )
    g.add_argument(
        "--categorical-threshold",
        type=float,
        metavar="X",
        help="effect size for categorical features",
    )
    add_progress_arguments(p)
    p.set_defaults(handler=_run)


def _policy(args: argparse.Namespace) -> DriftPolicy:
    from otel_ml.stats import DriftPolicy

    given = {
        "alpha": args.alpha,
        "min_rows": args.min_rows,
        "numeric_threshold": args.numeric_threshold,
        "categorical_threshold": args.categorical_threshold,
    }
    try:
        return DriftPolicy(**{k: v for k, v in given.items() if v is not None})
    except ConfigurationError as exc:  # name the option, not the dataclass field
        text = str(exc)
        for field in given:
            text = text.replace(f"DriftPolicy.{field}", "--" + field.replace("_", "-"))
        raise ConfigurationError(text) from exc


def report_dict(report: DriftReport, *, profile: str, current: str) -> dict[str, Any]:
    """The JSON shape of ``--json``: the files compared, then :meth:`DriftReport.to_dict`
    (NaN and infinities become ``null``)."""
    return {
        "format": REPORT_FORMAT,
        "format_version": 1,
        "profile": profile,
        "current": current,
        **report.to_dict(),
    }


def _run(args: argparse.Namespace) -> int:
    from otel_ml.mlflow import load_profile
    from otel_ml.report import drift_page
    from otel_ml.sketch import FeatureKind, Profile
    from otel_ml.stats import Grade, compare

    policy = _policy(args)
    reference = load_profile(args.profile)
    wanted = list(reference.features)
    pred_cols = [c for c in (args.prediction or "").split(",") if c]
    if args.prediction:
        if not reference.predictions:
            raise DataFileError(
                f"{args.profile}: has no predictions to compare --prediction with "
                "(build it with `otel-ml profile --prediction COL`)"
            )
        wanted.extend(pred_cols)
    categorical = [n for n, f in reference.features.items() if f.kind is FeatureKind.CATEGORICAL]
    bar = reading_progress(args.current, args.progress)
    table = read_table(
        args.current,
        columns=wanted,
        categorical=categorical,
        encoding=args.encoding,
        progress=bar,
    )
    bar.close()
    if table.n_rows == 0:
        raise DataFileError(f"{table.source}: no data rows (only a header): nothing to compare")
    for col in pred_cols:
        if col not in table.names:
            raise DataFileError(f"{table.source}: no column {col!r} (--prediction)")
    features = [n for n in wanted if n in reference.features]
    present = [n for n in features if n in table.names]
    missing = [n for n in features if n not in table.names]
    if not present:
        raise DataFileError(
            f"{table.source}: none of the {len(features)} columns of {args.profile} "
            f"(it has {_names(table.available)}; the profile wants {_names(features)})"
        )
    if missing and not args.ignore_missing:
        raise DataFileError(
            f"{table.source}: missing column(s) {_names(missing)} that {args.profile} "
            "describes (--ignore-missing compares the others)"
        )
    for name in present:
        if reference.features[name].kind is FeatureKind.NUMERIC:
            numeric_or_fail(table, name, args.profile)
    kinds = {n: reference.features[n].kind for n in present}
    cols = {n: table.column(n).values for n in present}
    preds: Any = table.column(pred_cols[0]).values if len(pred_cols) == 1 else None
    argmax = None
    if len(pred_cols) > 1:
        from otel_ml.sketch import argmax_sketches

        preds = {c: np.asarray(table.column(c).values) for c in pred_cols}
        argmax = argmax_sketches(preds)
    current = Profile.from_data(cols, feature_types=kinds, predictions=preds, multivariate=False)
    errors = None  # the rows' reconstruction errors under the profile's PCA
    model = reference.multivariate
    if model is not None and all(n in cols for n in model.features):
        errors = model.error_sketch(cols)
    # Columns the profile does not know are listed as extra, never compared.
    extra = tuple(
        n
        for n in table.available
        if n not in reference.features and n not in reference.skipped and n not in pred_cols
    )
    report = compare(
        reference,
        current,
        policy=policy,
        reconstruction_errors=errors,
        score_complements=_score_complements(
            reference, table, args.prediction if len(pred_cols) == 1 else None
        ),
        argmax_scores=argmax,
    )
    if extra and not report.extra_features:
        from dataclasses import replace

        report = replace(report, extra_features=extra)
    if args.json:
        doc = report_dict(report, profile=str(args.profile), current=str(args.current))
        print(json.dumps(doc, indent=2, allow_nan=False))
    else:
        print(drift_summary_table(report))
        n = len(report.features)
        few = too_few_rows(report)
        mv = report.multivariate
        if report.drifted and not report.n_drifted:
            verdict = f"DRIFT in the multivariate check (no single feature of {n} drifted)"
        elif report.drifted:
            verdict = f"DRIFT in {report.n_drifted} of {n} features"
            if mv is not None and mv.drifted:
                verdict += " and in the multivariate check"
        elif few:
            verdict = f"no drift found, but {len(few)} of {n} features had too few rows to judge"
        else:
            verdict = f"no drift in {n} features"
        print(f"\n{verdict} ({args.current}: {table.n_rows:,} rows vs {args.profile})")
        for fd in report.features:
            if fd.drifted:
                print(f"  {fd.feature}: {fd.reason}")
        minor = [fd.feature for fd in report.features if fd.verdict is Grade.MINOR]
        if minor:
            print(f"minor (significant, effect below the threshold): {_names(minor)}")
        if mv is not None and mv.drifted:
            print(f"  multivariate ({mv.method}): {mv.reason}")
        elif model is not None and mv is None:
            print("multivariate check not run: the data lacks some of its features "
                  f"({_names(n for n in model.features if n not in cols)})")
        if few:
            print(
                f"too few rows to judge (fewer than {report.policy.min_rows:,} on a side, "
                f"see --min-rows): {_names(few)}"
            )
        if report.missing_features:
            print(f"missing (not compared): {_names(report.missing_features)}")
        for fd in report.predictions:
            print(f"model output {args.prediction!r}: {fd.reason}")
        if report.estimated_performance is not None:
            print()
            print(estimated_performance_text(report.estimated_performance))
    if args.html:
        html = drift_page(
            report,
            reference,
            current,
            subtitle=f"{args.current} ({table.n_rows:,} rows) vs the profile {args.profile}",
            current_errors=errors,
        )
        out = Path(args.html)
        try:
            out.write_text(html, encoding="utf-8")
        except OSError as exc:
            raise DataFileError(f"{out}: cannot write the report ({exc.strerror})") from exc
        print(f"wrote {out}", file=sys.stderr if args.json else sys.stdout)
    return 1 if report.drifted else 0


def _score_complements(
    reference: Profile, table: Table, prediction: str | None
) -> dict[str, NumericSketch] | None:
    """The sketch of ``1 - score`` of a probability column, when the profile calibrates
    it: the estimate then reads scores near 1 at full resolution (docs/drift.md)."""
    from otel_ml.sketch import NumericSketch

    if prediction is None or PREDICTION_OUTPUT_SCORE not in reference.calibration:
        return None
    col = table.column(prediction)
    if not col.numeric:
        return None
    sketch = NumericSketch()
    sketch.update(1.0 - np.asarray(col.values, dtype=np.float64))
    return {PREDICTION_OUTPUT_SCORE: sketch}


def _names(names: Iterable[str], limit: int = 8) -> str:
    names = list(names)
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
