"""``otel-ml profile DATA -o profile.json``: a reference profile of a CSV or Parquet file."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from otel_ml._errors import ConfigurationError
from otel_ml._progress import reading_progress
from otel_ml.cli._data_files import DataFileError, Table, read_table
from otel_ml.report import format_number, format_table
from otel_ml.sketch import DATETIMES

__all__ = ["add_parser", "column_list", "numeric_or_fail"]


def column_list(text: str) -> list[str]:
    """Parse ``a,b,c`` (an option that can also be repeated)."""
    return [c.strip() for c in text.split(",") if c.strip()]


def _flatten(groups: list[list[str]] | None) -> list[str]:
    return [c for g in groups or [] for c in g]


def add_progress_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show progress on stderr (default: only when stderr is a terminal)",
    )
    p.add_argument(
        "--encoding", default="utf-8-sig", help="text encoding of CSV files (default UTF-8)"
    )


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "profile",
        help="build a reference profile of a CSV/Parquet file",
        description="Build a reference profile (per-feature sketches) of training data in a "
        "CSV or Parquet file, for `otel-ml drift`, the monitored model and the evaluator.",
    )
    p.add_argument("data", metavar="DATA", help="CSV (.csv, .tsv, .gz) or Parquet file")
    p.add_argument("-o", "--output", required=True, metavar="PROFILE", help="profile to write")
    p.add_argument("--model", help="model name the profile belongs to")
    p.add_argument("--model-version", help="model version the profile belongs to")
    for flag, what in (
        ("--categorical", "columns to treat as categorical even when they hold numbers"),
        ("--numeric", "columns that must be numeric (an error names any other value)"),
        ("--exclude", "columns to leave out (ids, timestamps)"),
    ):
        p.add_argument(flag, type=column_list, action="append", metavar="COL[,COL]", help=what)
    p.add_argument("--label", metavar="COL", help="column holding the ground truth (not a feature)")
    p.add_argument(
        "--prediction",
        metavar="COL[,COL]",
        help="column holding the model's output (not a feature); several: the class "
        "probability columns of a multiclass model, named by class",
    )
    p.add_argument(
        "--datetimes",
        choices=DATETIMES,
        default="skip",
        help="datetime columns (ISO 8601 text, Parquet timestamps and dates): skip them "
        "(default, with a note) or profile them as seconds since the epoch",
    )
    p.add_argument(
        "--multivariate-variance",
        type=float,
        metavar="SHARE",
        help="share of the numeric features' standardised variance the multivariate "
        "check's PCA keeps, in (0, 1) (default %(default)s, see docs/drift.md)",
    )
    add_progress_arguments(p)
    p.set_defaults(handler=_run)


def numeric_or_fail(table: Table, name: str, why: str) -> None:
    """Raise a one-line error when column ``name`` of ``table`` holds a non-number."""
    col = table.column(name)
    if col.numeric or col.values.dtype.kind == "M":  # dates compare as seconds since the epoch
        return
    where = f"line {col.first_non_numeric[0]}: " if col.first_non_numeric else ""
    value = f" {col.first_non_numeric[1]!r}" if col.first_non_numeric else " text"
    raise DataFileError(
        f"{table.source}: {where}column {name!r} holds{value}, but {why} says it is numeric"
    )


def _predictions(table: Any, cols: list[str]) -> Any:
    """One --prediction column's values, or several columns by name (the class columns of
    a probability matrix, named by class: ``--prediction a,b,c``)."""
    if not cols:
        return None
    if len(cols) == 1:
        return table.column(cols[0]).values
    return {c: table.column(c).values for c in cols}


def _run(args: argparse.Namespace) -> int:
    from otel_ml.sketch import FeatureKind, NumericSketch, Profile

    share = args.multivariate_variance
    if share is not None and not 0.0 < share < 1.0:
        raise ConfigurationError(
            f"--multivariate-variance: must be in (0, 1), the share of the variance the PCA "
            f"keeps (e.g. 0.8), got {share}"
        )
    categorical, numeric = _flatten(args.categorical), _flatten(args.numeric)
    exclude = set(_flatten(args.exclude))
    both = sorted(set(categorical) & set(numeric))
    if both:
        raise ConfigurationError(f"--categorical and --numeric both name {', '.join(both)}")
    bar = reading_progress(args.data, args.progress)
    table = read_table(args.data, categorical=categorical, encoding=args.encoding, progress=bar)
    bar.close()
    if table.n_rows == 0:
        raise DataFileError(f"{table.source}: no data rows (only a header): nothing to profile")
    names = set(table.available)
    pred_cols = [c for c in (args.prediction or "").split(",") if c]
    asked = [*categorical, *numeric, *exclude, *filter(None, (args.label,)), *pred_cols]
    unknown = sorted(set(asked) - names)
    if unknown:
        raise DataFileError(
            f"{table.source}: no column {', '.join(map(repr, unknown))} "
            f"(columns: {', '.join(table.available)})"
        )
    for name in numeric:
        numeric_or_fail(table, name, "--numeric")
    for name, why in table.skipped:
        print(f"otel-ml profile: skipped column {name!r}: {why}", file=sys.stderr)
    special = {args.label, *pred_cols}
    features = {
        c.name: c.values for c in table.columns if c.name not in exclude and c.name not in special
    }
    if not features:
        raise DataFileError(f"{table.source}: no feature columns left to profile")
    kinds = {n: FeatureKind.CATEGORICAL for n in categorical if n in features}
    kinds.update({n: FeatureKind.NUMERIC for n in numeric if n in features})
    profile = Profile.from_data(
        features,
        model=args.model,
        version=args.model_version,
        predictions=_predictions(table, pred_cols),
        labels=table.column(args.label).values if args.label else None,
        feature_types=kinds,
        datetimes=args.datetimes,
        **({} if args.multivariate_variance is None
           else {"multivariate_variance": args.multivariate_variance}),
    )
    for name, why in profile.skipped.items():
        print(f"otel-ml profile: skipped column {name!r}: {why}", file=sys.stderr)
    profile.save(args.output)
    rows = []
    for f in profile.features.values():
        s = f.sketch
        if isinstance(s, NumericSketch):
            summary = f"{format_number(f.min)} … {format_number(f.max)}" if s.count else "no values"
            if f.kind is FeatureKind.TEXT and s.count:
                summary = f"text, {summary} characters"
        else:
            summary = f"{len(s.counts)} categories" + (" + other" if s.overflow else "")
        rows.append([f.name, f.kind.value, f"{f.missing_rate:.1%}", summary])
    print(format_table(["feature", "kind", "missing", "range / categories"], rows))
    print(f"wrote {args.output}: {len(profile.features)} features, {profile.n_rows:,} rows")
    return 0
