"""Profiles built where the data is: Spark and Dask DataFrames, sketched per partition.

:meth:`Profile.from_data <otel_ml.sketch.Profile.from_data>` hands a Spark or a Dask
DataFrame to this module. Each partition is sketched where it lives (Spark
``mapInArrow``, Dask ``map_partitions``) into a partial profile; only the partial
profiles travel to the driver, as one JSON text per partition, and are merged there
(:meth:`Profile.merge <otel_ml.sketch.Profile.merge>`). The rows are never collected.

The engines are recognised by the module of the DataFrame's type, so the sketch layer
imports neither pyspark nor dask unless it is given one of their DataFrames.

What the result is
------------------
The profile of the same rows in memory: the same features of the same kinds, the same
``n_rows``, and for each numeric feature the same count, missing and infinite counts,
minimum, maximum, scale and bucket counts (the sum up to float rounding, as the rows
are added in another order). A categorical feature whose distinct values fit its
``max_categories`` over the whole table has the same counts too. Beyond that bound the
merge of top-K partials differs from one top-K of all the rows in exactly this way: the
total, the missing count and the rows with a value (kept + ``overflow``) are still the
same, but a value dropped from one partition's partial (or from the running merge)
loses those rows to ``overflow``, so each kept count is a lower bound of the true count
and the values kept can differ from the in-memory top-K where counts are close.

Kinds follow the one rule (:func:`~otel_ml.sketch._columns.infer_kind`). Spark: the
schema decides -- numbers and decimals (as float64) are numeric; strings categorical or
text, by their values partition by partition (as Dask's object columns below); booleans
and everything else categorical; dates and timestamps are datetime columns, skipped by
default or, with ``datetimes="epoch_seconds"``, numeric seconds since the epoch (a
``date`` as its midnight UTC, a timestamp as its instant, a timestamp without time
zone read as UTC). Spark's ``null`` and a double's ``NaN`` are both missing values of a
numeric feature (``nan_count``), as ``None`` and NaN are in memory; ``+inf`` and
``-inf`` are counted apart. Dask: the dtypes decide, and an ``object`` column is judged
on its values partition by partition; partitions that disagree (numbers in some,
strings in others) make it categorical, as a mixed column is in memory -- except that a
column of strings that is free text in any partition is text (its values never become
categories).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from otel_ml._errors import ConfigurationError
from otel_ml.sketch._categorical import CategoricalSketch
from otel_ml.sketch._columns import FeatureKind, columns_of, infer_kind
from otel_ml.sketch._numeric import NumericSketch

__all__ = ["engine_of", "profile_on_engine"]


def engine_of(data: object) -> str | None:
    """``"spark"`` or ``"dask"`` when ``data`` is one of their DataFrames, else ``None``
    (by the type's module: nothing is imported to find out).

    >>> engine_of({"a": [1]}) is None
    True
    """
    for cls in type(data).__mro__:
        top = cls.__module__.partition(".")[0]
        if top == "pyspark" and cls.__name__ == "DataFrame":
            return "spark"
        if top in ("dask", "dask_expr") and cls.__name__ == "DataFrame":
            return "dask"
    return None


# ---- the partition side (runs on the workers) ------------------------------------------
def _present(values: Any) -> bool:
    from otel_ml.sketch._categorical import _is_missing

    return any(not _is_missing(v) for v in values.tolist()) if values.size else False


def _partial_profile(
    pdf: Any, fixed: Mapping[str, str], opts: Mapping[str, Any]
) -> tuple[dict[str, str | None], Any]:
    """The profile of one pandas DataFrame, and the kind each column not in ``fixed``
    (the kinds the driver decided) turned out to hold here (``None``: only missing)."""
    from otel_ml.sketch._profile import Profile

    cols = columns_of(pdf)
    kinds: dict[str, str | None] = {}
    for name, values in cols.items():
        if name in fixed:
            continue
        kinds[name] = infer_kind(values).value if _present(values) else None
    types = {**fixed, **{k: v or "categorical" for k, v in kinds.items()}}
    return kinds, Profile.from_data(pdf, feature_types=types, multivariate=False, **opts)


def _partial(kinds: Mapping[str, str | None], profile: Any) -> str:
    """A partition's result as it travels: ``{"kinds": ..., "profile": ...}`` JSON."""
    return json.dumps({"kinds": dict(kinds), "profile": profile.to_dict()})


def _spark_partition(
    batches: Iterator[Any], fixed: Mapping[str, str], opts: Mapping[str, Any]
) -> Iterator[Any]:
    """Arrow batches of one Spark partition in, a row holding its partial profile out (and
    the kinds its string columns hold: one row per kind of a column its batches disagree
    on, which the driver settles before it runs again)."""
    import pyarrow as pa

    from otel_ml.sketch._profile import Profile

    merged = None
    seen: dict[str, set[str]] = {}
    for batch in batches:
        if batch.num_rows == 0:
            continue
        kinds, part = _partial_profile(batch.to_pandas(), fixed, opts)
        for name, kind in kinds.items():
            if kind is not None:
                seen.setdefault(name, set()).add(kind)
        if all(len(k) == 1 for k in seen.values()):
            merged = part if merged is None else merged.merge(part)
    if merged is None:
        return
    first = {name: min(k) for name, k in seen.items()}
    rows = [_partial(first, merged)]
    empty = Profile(features={})
    rows += [_partial({n: k}, empty) for n, ks in seen.items() for k in sorted(ks) if k != first[n]]
    yield pa.RecordBatch.from_pydict({"partial": rows})


# ---- the driver side --------------------------------------------------------------------
_TEXT_OR_CATEGORICAL = frozenset({FeatureKind.TEXT.value, FeatureKind.CATEGORICAL.value})

def _empty_sketch(kind: FeatureKind, max_categories: int) -> NumericSketch | CategoricalSketch:
    if kind in (FeatureKind.NUMERIC, FeatureKind.TEXT):  # text: the sketch of its lengths
        return NumericSketch()
    return CategoricalSketch(max_categories=max_categories)


def _combine(
    partials: list[dict[str, Any]],
    columns: list[str],
    fixed: Mapping[str, str],
    opts: Mapping[str, Any],
) -> tuple[Any, list[str]]:
    """Merge partials into one profile, or name the columns partitions disagree on."""
    from otel_ml.sketch._profile import SKIPPED_DATETIME, FeatureProfile, Profile

    max_categories = int(opts["max_categories"])
    convert = opts["datetimes"] == "epoch_seconds"
    seen: dict[str, set[str]] = {c: set() for c in columns if c not in fixed}
    for p in partials:
        for name, kind in p["kinds"].items():
            if kind is not None:
                seen[name].add(kind)
    mixed = sorted(name for name, kinds in seen.items() if len(kinds) > 1)
    if mixed:
        return None, mixed
    kinds = {
        name: FeatureKind(fixed.get(name) or next(iter(seen[name]), "categorical"))
        for name in columns
    }
    result = None
    for p in partials:
        part = Profile.from_dict(p["profile"])
        features: dict[str, FeatureProfile] = {}
        skipped: dict[str, str] = {}
        for name in columns:
            kind = kinds[name]
            if kind is FeatureKind.DATETIME:
                if not convert:
                    skipped[name] = SKIPPED_DATETIME
                    continue
                kind = FeatureKind.NUMERIC
            f = part.features.get(name)
            if f is None or f.kind is not kind:
                # a partition holding only missing values of this column (or none at all)
                missing = 0 if f is None else f.total
                sketch = _empty_sketch(kind, max_categories)
                if isinstance(sketch, NumericSketch):
                    sketch.nan_count = missing
                else:
                    sketch.missing_count = missing
                f = FeatureProfile(name=name, kind=kind, sketch=sketch)
            features[name] = f
        part = Profile(
            features=features,
            model=opts.get("model"),
            version=opts.get("version"),
            n_rows=part.n_rows,
            skipped=skipped,
        )
        result = part if result is None else result.merge(part)
    return result, []


def _driver_profile(
    run: Any, columns: list[str], fixed: dict[str, str], opts: dict[str, Any]
) -> Any:
    """Run ``run(fixed)`` (the partials' JSON texts) and merge; once more with the columns
    the partitions disagreed on given one kind (:func:`_settle`)."""
    partial_opts = {k: opts[k] for k in ("max_categories", "datetimes")}
    for _ in range(2):
        partials = [json.loads(t) for t in run(fixed, partial_opts)]
        if not partials:  # no rows at all: one empty partial of the known columns
            partials = [
                {
                    "kinds": {c: None for c in columns if c not in fixed},
                    "profile": {
                        "format": "otel_ml.profile",
                        "format_version": 1,
                        "created": "1970-01-01T00:00:00+00:00",
                        "n_rows": 0,
                        "features": [],
                    },
                }
            ]
        profile, mixed = _combine(partials, columns, fixed, opts)
        if profile is not None:
            return profile
        # Free text in any partition: text (its values never become categories).
        fixed = {**fixed, **{n: _settle(n, partials) for n in mixed}}
    raise AssertionError("unreachable: the mixed columns were given one kind")


def _settle(name: str, partials: list[dict[str, Any]]) -> str:
    """The kind of a column partitions disagree on: text when only text and categorical
    were seen, else categorical (a mixed column)."""
    seen = {p["kinds"].get(name) for p in partials} - {None}
    if FeatureKind.TEXT.value in seen and seen <= _TEXT_OR_CATEGORICAL:
        return FeatureKind.TEXT.value
    return FeatureKind.CATEGORICAL.value


def _spark_profile(df: Any, fixed: dict[str, str], opts: dict[str, Any]) -> Any:
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    convert = opts["datetimes"] == "epoch_seconds"
    selected: list[Any] = []
    kinds: dict[str, str] = {}
    skipped: list[str] = []
    for field in df.schema.fields:
        name, dtype = field.name, field.dataType
        col = F.col(f"`{name}`")
        kind = fixed.get(name)
        if isinstance(dtype, (T.DateType, T.TimestampType, T.TimestampNTZType)):
            if kind not in (None, "datetime"):
                raise ConfigurationError(
                    f"feature_types[{name!r}]: a Spark {dtype.simpleString()} column is a "
                    f"datetime column; use datetimes='epoch_seconds' to profile it as numbers"
                )
            if not convert:
                skipped.append(name)
                continue
            if isinstance(dtype, T.DateType):
                col = F.unix_date(col).cast("double") * 86400.0
            elif isinstance(dtype, T.TimestampNTZType):
                # a wall-clock value, read as UTC (as naive datetimes are in memory)
                col = F.make_timestamp(
                    F.year(col),
                    F.month(col),
                    F.dayofmonth(col),
                    F.hour(col),
                    F.minute(col),
                    F.date_part(F.lit("SECOND"), col),
                    F.lit("UTC"),
                )
                col = F.unix_micros(col) / 1e6
            else:
                col = F.unix_micros(col) / 1e6
            kinds[name] = "numeric"
        elif isinstance(dtype, T.DecimalType):
            col = col.cast("double")
            kinds[name] = kind or "numeric"
        elif isinstance(dtype, T.NumericType):
            kinds[name] = kind or "numeric"
        elif isinstance(dtype, T.StringType) and kind is None:
            kinds[name] = ""  # categorical or free text: the partitions' values decide
        else:
            kinds[name] = kind or "categorical"
        selected.append(col.alias(name))
    projected = df.select(*selected)
    columns = list(kinds)
    kinds = {name: kind for name, kind in kinds.items() if kind}

    def run(fixed_kinds: Mapping[str, str], partial_opts: Mapping[str, Any]) -> list[str]:
        def per_partition(batches: Iterator[Any]) -> Iterator[Any]:
            return _spark_partition(batches, fixed_kinds, partial_opts)

        rows = projected.mapInArrow(per_partition, "partial string").collect()
        return [r["partial"] for r in rows]

    profile = _driver_profile(run, columns, kinds, opts)
    from otel_ml.sketch._profile import SKIPPED_DATETIME, Profile

    return Profile(
        features=profile.features,
        model=profile.model,
        version=profile.version,
        n_rows=profile.n_rows,
        skipped={**profile.skipped, **dict.fromkeys(skipped, SKIPPED_DATETIME)},
    )


def _dask_profile(df: Any, fixed: dict[str, str], opts: dict[str, Any]) -> Any:
    import pandas as pd

    meta = df._meta
    kinds: dict[str, str] = {}
    for name, values in columns_of(meta).items():
        if name in fixed:
            kinds[name] = fixed[name]
        elif values.dtype.kind != "O":
            kinds[name] = infer_kind(values).value
    columns = [str(c) for c in meta.columns]

    def run(fixed_kinds: Mapping[str, str], partial_opts: Mapping[str, Any]) -> list[str]:
        def per_partition(pdf: Any) -> Any:
            if len(pdf) == 0:
                return pd.Series([], dtype=object)
            return pd.Series(
                [_partial(*_partial_profile(pdf, fixed_kinds, partial_opts))], dtype=object
            )

        texts = df.map_partitions(per_partition, meta=pd.Series([], dtype=object)).compute()
        return [str(t) for t in texts.tolist()]

    return _driver_profile(run, columns, kinds, opts)


def profile_on_engine(engine: str, data: Any, opts: dict[str, Any]) -> Any:
    """The profile of a Spark or Dask DataFrame (``opts``: ``from_data``'s keywords)."""
    fixed = {
        str(k): (v.value if isinstance(v, FeatureKind) else str(v))
        for k, v in dict(opts.pop("feature_types") or {}).items()
    }
    columns = [str(c) for c in data.columns]
    unknown = sorted(set(fixed) - set(columns))
    if unknown:
        raise ConfigurationError(
            f"feature_types: no column named {', '.join(map(repr, unknown))} "
            f"(columns are {', '.join(map(repr, columns))})"
        )
    if engine == "spark":
        return _spark_profile(data, fixed, opts)
    return _dask_profile(data, fixed, opts)
