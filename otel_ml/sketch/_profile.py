"""Reference profiles: per-feature sketches of training data, saved as versioned JSON.

A :class:`Profile` holds one :class:`FeatureProfile` per feature (a
:class:`~otel_ml.stats.NumericSketch` or a
:class:`~otel_ml.stats.CategoricalSketch`), optionally the distribution of the
model's predictions and of the labels, and the model name and version it
belongs to. The kind of each feature follows the rule of
:func:`~otel_ml.sketch._columns.infer_kind` (dtype, never cardinality) and can
be overridden with ``feature_types``. Datetime columns are left out and listed
in :attr:`Profile.skipped` unless ``datetimes="epoch_seconds"`` makes them numeric
features (seconds since the epoch).

Categorical features of a profile keep up to :data:`PROFILE_MAX_CATEGORIES`
(1,000) values exactly -- ten times the sketch default used per export
interval -- so that a reference knows every value of a typical high-cardinality
column, and so that an unseen category is really unseen.

File format
-----------
A JSON object ``{"format": "otel_ml.profile", "format_version": 2, "model": ...,
"version": ..., "created": ISO-8601 UTC, "n_rows": ..., "features": [...],
"predictions": [...], "labels": ..., "skipped": {column: why}}``; each feature is
``{"name", "kind", "sketch"}`` with the sketch's own ``to_dict()``. Version 2 adds
optional top-level sections, each absent (or ``null``) when not computed:
``"multivariate"`` (the PCA of the numeric features and the reference distribution
of the reconstruction error, :class:`~otel_ml.sketch._multivariate.ReconstructionModel`);
``"calibration": [{"output", "class", "scores", "positives"}]`` (a 1-D ``score`` adds
``"complement"``, the same for ``1 - score``) when the profile was built with labels
and probability outputs (:mod:`otel_ml.sketch._calibration`, what estimated
performance needs). Version 1 files still load. Files of a newer
``format_version`` are refused with :class:`~otel_ml.ProfileError`.

Examples
--------
>>> import numpy as np
>>> p = Profile.from_data({"age": np.array([20, 30, 40, np.nan]), "city": ["a", "b", "a", "c"]},
...                       model="credit", version="3")
>>> p.features["age"].kind.value, p.features["age"].missing_rate, p.features["age"].max
('numeric', 0.25, 40.0)
>>> sorted(p.features["city"].categories)
['a', 'b', 'c']
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from otel_ml import semconv
from otel_ml._errors import ConfigurationError, ProfileError, SketchError
from otel_ml.sketch._calibration import ScoreCalibration, score_calibrations
from otel_ml.sketch._categorical import CategoricalSketch
from otel_ml.sketch._columns import (
    Column,
    Columns,
    FeatureKind,
    as_numeric,
    columns_of,
    parse_datetimes,
    parse_kind,
)
from otel_ml.sketch._engines import engine_of, profile_on_engine
from otel_ml.sketch._multivariate import DEFAULT_VARIANCE, ReconstructionModel
from otel_ml.sketch._numeric import NumericSketch

__all__ = [
    "PROFILE_FORMAT",
    "PROFILE_FORMAT_VERSION",
    "PROFILE_MAX_CATEGORIES",
    "PREDICTION_SCORE_OUTPUT",
    "FeatureProfile",
    "Profile",
]

PROFILE_FORMAT = "otel_ml.profile"
PROFILE_FORMAT_VERSION = 2
PROFILE_MAX_CATEGORIES = 1000
PREDICTION_SCORE_OUTPUT = semconv.PREDICTION_OUTPUT_SCORE  # name of a 1-D prediction output

Sketch = NumericSketch | CategoricalSketch

#: Why a profile left a datetime column out (``Profile.skipped``, the CLI's note).
SKIPPED_DATETIME = (
    "a datetime column: not a feature unless datetimes='epoch_seconds' "
    "(CLI: --datetimes epoch_seconds) compares it as seconds since the epoch"
)


@dataclass(frozen=True)
class FeatureProfile:
    """The reference distribution of one feature (or prediction output, or label)."""

    name: str
    kind: FeatureKind
    sketch: Sketch

    @classmethod
    def from_values(
        cls,
        name: str,
        values: Column,
        kind: FeatureKind | None = None,
        *,
        max_categories: int = PROFILE_MAX_CATEGORIES,
    ) -> FeatureProfile:
        """Sketch one column (kind inferred when not given; a datetime column becomes a
        numeric feature of seconds since the epoch)."""
        values = np.asarray(values).ravel()
        return cls.from_column(
            name, Columns({name: values}, values.size), kind, max_categories=max_categories
        )

    @classmethod
    def from_column(
        cls,
        name: str,
        columns: Columns,
        kind: FeatureKind | None = None,
        *,
        max_categories: int = PROFILE_MAX_CATEGORIES,
    ) -> FeatureProfile:
        """Sketch column ``name`` of ``columns`` as :meth:`from_values` does, reading only
        that column (a pandas text column is counted by pandas, never converted)."""
        kind = columns.kind(name) if kind is None else kind
        sketch: Sketch
        if kind is FeatureKind.TEXT:  # the lengths, never the text
            sketch = NumericSketch()
            sketch.update(columns.text_lengths(name))
            return cls(name=name, kind=kind, sketch=sketch)
        if kind is FeatureKind.CATEGORICAL:
            sketch = CategoricalSketch(max_categories=max_categories)
            sketch.update(columns.source(name))
            return cls(name=name, kind=kind, sketch=sketch)
        if kind is FeatureKind.DATETIME:
            kind = FeatureKind.NUMERIC
        sketch = NumericSketch()
        sketch.update(as_numeric(name, columns[name]))
        return cls(name=name, kind=kind, sketch=sketch)

    @property
    def total(self) -> int:
        """Rows seen, missing included."""
        return self.sketch.total

    @property
    def missing_rate(self) -> float:
        """Share of rows that were missing (``None`` / NaN); 0 for an empty column."""
        s = self.sketch
        missing = s.nan_count if isinstance(s, NumericSketch) else s.missing_count
        return missing / s.total if s.total else 0.0

    @property
    def non_finite_rate(self) -> float:
        """Share of rows that were ``+inf`` or ``-inf`` (numeric features)."""
        s = self.sketch
        if isinstance(s, NumericSketch) and s.total:
            return s.non_finite_count / s.total
        return 0.0

    @property
    def min(self) -> float:
        """Smallest finite value (NaN for categoricals and empty columns)."""
        s = self.sketch
        return s.min if isinstance(s, NumericSketch) and s.count else math.nan

    @property
    def max(self) -> float:
        """Largest finite value (NaN for categoricals and empty columns)."""
        s = self.sketch
        return s.max if isinstance(s, NumericSketch) and s.count else math.nan

    @property
    def categories(self) -> frozenset[str]:
        """Known categories (empty for numeric features)."""
        s = self.sketch
        return frozenset(s.counts) if isinstance(s, CategoricalSketch) else frozenset()

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind.value, "sketch": self.sketch.to_dict()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureProfile:
        kind = FeatureKind(d["kind"])
        sketch: Sketch = (
            CategoricalSketch.from_dict(d["sketch"])
            if kind is FeatureKind.CATEGORICAL
            else NumericSketch.from_dict(d["sketch"])  # numeric; text: its lengths
        )
        return cls(name=str(d["name"]), kind=kind, sketch=sketch)


def _merge_features(
    what: str, ours: Mapping[str, FeatureProfile], theirs: Mapping[str, FeatureProfile]
) -> dict[str, FeatureProfile]:
    """Feature-by-feature merge of two profiles' ``what`` (fresh sketches)."""
    if list(ours) != list(theirs):
        raise ProfileError(
            f"cannot merge profiles of different {what}: {sorted(ours)} and {sorted(theirs)}"
        )
    out: dict[str, FeatureProfile] = {}
    for name, a in ours.items():
        b = theirs[name]
        if a.kind is not b.kind:
            raise ProfileError(
                f"cannot merge profiles: {what} {name!r} is {a.kind.value} in one and "
                f"{b.kind.value} in the other"
            )
        sketch = a.sketch.copy()
        try:
            sketch.merge(b.sketch)  # type: ignore[arg-type]  # same kind: same sketch type
        except SketchError as exc:
            raise ProfileError(f"cannot merge profiles: {what} {name!r}: {exc}") from exc
        out[name] = FeatureProfile(name=name, kind=a.kind, sketch=sketch)
    return out


def _prediction_columns(predictions: object) -> Mapping[str, Column]:
    arr = None if isinstance(predictions, Mapping) else np.asarray(predictions)
    if arr is not None and arr.dtype.names is None and arr.ndim == 1:
        return {PREDICTION_SCORE_OUTPUT: arr}
    return columns_of(predictions)


@dataclass(frozen=True)
class Profile:
    """A reference profile: what the model's inputs (and outputs) looked like in training.

    Build one with :meth:`from_data`, save it with :meth:`save`, read it back with
    :meth:`load`.
    """

    features: dict[str, FeatureProfile]
    model: str | None = None
    version: str | None = None
    created: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    n_rows: int = 0
    predictions: dict[str, FeatureProfile] = field(default_factory=dict)
    labels: FeatureProfile | None = None
    skipped: dict[str, str] = field(default_factory=dict)
    """Columns of the data that are not features, with why (datetime columns by
    default); the SDK does not count them as unknown columns."""
    multivariate: ReconstructionModel | None = None
    """The PCA of the numeric features and the reference's reconstruction errors
    (multivariate drift); ``None`` when not computed (fewer than two varying numeric
    features, fewer than 100 rows, ``multivariate=False``, a merged or Spark/Dask
    profile)."""
    calibration: dict[str, ScoreCalibration] = field(default_factory=dict)
    """Per probability output, its scores on the labelled rows and on the rows of its
    class (built when both ``predictions`` and ``labels`` are given): what estimated
    performance calibrates with (:mod:`otel_ml.sketch._calibration`)."""

    @classmethod
    def from_data(
        cls,
        data: object,
        *,
        model: str | None = None,
        version: str | None = None,
        predictions: object | None = None,
        labels: object | None = None,
        feature_types: Mapping[str, str | FeatureKind] | None = None,
        feature_names: Sequence[str] | None = None,
        max_categories: int = PROFILE_MAX_CATEGORIES,
        datetimes: str = "skip",
        multivariate: bool = True,
        multivariate_variance: float = DEFAULT_VARIANCE,
    ) -> Profile:
        """Profile training ``data`` (numpy array, pandas DataFrame, mapping of columns,
        list of dicts, or a Spark or Dask DataFrame).

        A Spark or Dask DataFrame is profiled on its engine, partition by partition, and
        the partial profiles are merged (:mod:`otel_ml.sketch._engines` says exactly how
        the result compares with the in-memory profile of the same rows); its rows are
        never collected. ``predictions``, ``labels`` and ``feature_names`` are for
        in-memory data only.

        Parameters
        ----------
        data
            The feature table.
        model, version
            The model this profile is the reference of (matched by the evaluator).
        predictions
            Optional model outputs on ``data``: 1-D (scores, regression values or
            predicted classes; output name ``"score"``) or 2-D (one output per column,
            e.g. class probabilities, named ``"0"``, ``"1"``, ... or by DataFrame column
            or mapping key). The SDK names a probability column by its class, so pass
            ``{"no": proba[:, 0], "yes": proba[:, 1]}`` when the classes are not 0, 1, ...
        labels
            Optional ground truth on ``data``. With probability ``predictions`` (a
            binary score, or one column per class named by class), the profile also
            keeps their calibration (:attr:`calibration`), so that windows without
            labels get an estimated performance.
        feature_types
            ``{"column": "numeric" | "categorical" | "text" | "datetime"}`` overriding
            the inferred kinds (``"categorical"`` on a free-text column is the opt-in to
            its values as categories; a ``"text"`` feature keeps only its lengths).
        feature_names
            Names for the columns of a plain array (default ``"0"``, ``"1"``, ...).
        max_categories
            Values kept exactly per categorical feature.
        datetimes
            Datetime columns (``datetime64``, pandas datetimes with or without a time
            zone, ``datetime`` / ``date`` objects): ``"skip"`` (default) leaves them out
            and lists them in :attr:`skipped`; ``"epoch_seconds"`` profiles them as
            numeric features of seconds since 1970-01-01 UTC, which the SDK then
            captures the same way.
        multivariate
            Fit the multivariate drift model (:attr:`multivariate`) on the numeric
            features (in-memory data only).
        multivariate_variance
            The share of the standardised variance its principal components keep, in
            (0, 1) (default :data:`~otel_ml.sketch._multivariate.DEFAULT_VARIANCE`; see
            ``docs/drift.md`` for what it trades); stored in the profile's
            ``"multivariate"`` section.

        >>> import datetime as dt
        >>> days = [dt.date(2020, 1, d) for d in range(1, 29)]
        >>> p = Profile.from_data({"signup": days})
        >>> list(p.features), list(p.skipped)
        ([], ['signup'])
        >>> f = Profile.from_data({"signup": days}, datetimes="epoch_seconds").features["signup"]
        >>> f.kind.value, f.min
        ('numeric', 1577836800.0)
        """
        _check_variance(multivariate_variance)
        engine = engine_of(data)
        if engine is not None:
            given = [n for n, v in (("predictions", predictions), ("labels", labels),
                                    ("feature_names", feature_names)) if v is not None]
            if given:
                raise ConfigurationError(
                    f"{given[0]}: not taken with a {engine.title()} DataFrame; profile the "
                    f"table's columns (a prediction or label column is profiled as a feature)"
                )
            parse_datetimes(datetimes)
            kinds = {k: parse_kind(k, v) for k, v in (feature_types or {}).items()}
            profile: Profile = profile_on_engine(
                engine,
                data,
                {"model": model, "version": version, "feature_types": kinds,
                 "max_categories": max_categories, "datetimes": datetimes},
            )
            return profile
        cols = columns_of(data, feature_names)
        overrides = {k: parse_kind(k, v) for k, v in (feature_types or {}).items()}
        unknown = sorted(set(overrides) - set(cols))
        if unknown:
            raise ConfigurationError(
                f"feature_types: no column named {', '.join(map(repr, unknown))} "
                f"(columns are {', '.join(map(repr, cols))})"
            )
        convert_datetimes = parse_datetimes(datetimes) == "epoch_seconds"
        features: dict[str, FeatureProfile] = {}
        skipped: dict[str, str] = {}
        numeric: list[str] = []  # numeric features (not dates) for the PCA
        for name in cols:  # one column at a time: no copy of the whole table
            kind = overrides.get(name) or cols.kind(name)
            if kind is FeatureKind.DATETIME and not convert_datetimes:
                skipped[name] = SKIPPED_DATETIME
                continue
            features[name] = FeatureProfile.from_column(
                name, cols, kind, max_categories=max_categories
            )
            if kind is FeatureKind.NUMERIC and cols.size(name) == cols.n_rows:
                numeric.append(name)
        pred_columns = _prediction_columns(predictions) if predictions is not None else {}
        preds = {
            name: FeatureProfile.from_values(name, values, max_categories=max_categories)
            for name, values in pred_columns.items()
        }
        label_profile = None
        calibration: dict[str, ScoreCalibration] = {}
        if labels is not None:
            label_values = np.asarray(labels).ravel()
            label_profile = FeatureProfile.from_values(
                "label", label_values, max_categories=max_categories
            )
            scored = {n: v for n, v in pred_columns.items()
                      if preds[n].kind is FeatureKind.NUMERIC}
            calibration = score_calibrations(scored, label_values)
        return cls(
            features=features,
            model=model,
            version=version,
            n_rows=cols.n_rows,
            predictions=preds,
            labels=label_profile,
            skipped=skipped,
            multivariate=(
                ReconstructionModel.fit(cols.subset(numeric), variance=multivariate_variance)
                if multivariate
                else None
            ),
            calibration=calibration,
        )

    # ---- merging ----------------------------------------------------------------------
    def merge(self, other: Profile) -> Profile:
        """A new profile of the rows of both (``self`` and ``other`` are left as they are).

        Profiles of parts of one table (the partitions of a Spark or Dask DataFrame, the
        chunks of a file) merge into the profile of the whole: counts, sums, extrema and
        bucket counts of numeric features are those of the whole (sums up to float
        rounding); categorical counts too while a feature's distinct values fit its
        ``max_categories`` (see :meth:`CategoricalSketch.merge
        <otel_ml.sketch.CategoricalSketch.merge>` for what happens beyond). Both must have
        the same features of the same kinds, and the same predictions and labels; the
        model, version and creation time are ``self``'s. The multivariate model is not
        mergeable (a PCA of each part is not the PCA of the whole): the result has none.

        >>> import numpy as np
        >>> a = Profile.from_data({"x": np.array([1.0, 2.0]), "c": ["a", "b"]})
        >>> b = Profile.from_data({"x": np.array([3.0, np.nan]), "c": ["a", None]})
        >>> m = a.merge(b)
        >>> m.n_rows, m.features["x"].max, m.features["x"].missing_rate
        (4, 3.0, 0.25)
        >>> m.features["c"].sketch.counts
        {'a': 2, 'b': 1}
        """
        features = _merge_features("features", self.features, other.features)
        preds = _merge_features("predictions", self.predictions, other.predictions)
        if (self.labels is None) != (other.labels is None):
            raise ProfileError("cannot merge a profile with labels and one without")
        labels = None
        if self.labels is not None and other.labels is not None:
            labels = _merge_features("labels", {"label": self.labels}, {"label": other.labels})[
                "label"
            ]
        if list(self.calibration) != list(other.calibration):
            raise ProfileError(
                "cannot merge profiles with calibrations of different outputs: "
                f"{sorted(self.calibration)} and {sorted(other.calibration)}"
            )
        calibration = {n: c.merged(other.calibration[n]) for n, c in self.calibration.items()}
        return Profile(
            features=features,
            model=self.model,
            version=self.version,
            created=self.created,
            n_rows=self.n_rows + other.n_rows,
            predictions=preds,
            labels=labels,
            skipped={**self.skipped, **other.skipped},
            calibration=calibration,
        )

    # ---- JSON -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "format": PROFILE_FORMAT,
            "format_version": PROFILE_FORMAT_VERSION,
            "model": self.model,
            "version": self.version,
            "created": self.created.isoformat(),
            "n_rows": self.n_rows,
            "features": [f.to_dict() for f in self.features.values()],
            "predictions": [f.to_dict() for f in self.predictions.values()],
            "labels": self.labels.to_dict() if self.labels is not None else None,
            "skipped": dict(self.skipped),
            "multivariate": None if self.multivariate is None else self.multivariate.to_dict(),
        }
        if self.calibration:
            d["calibration"] = [c.to_dict() for c in self.calibration.values()]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, source: str = "<profile>") -> Profile:
        """Rebuild a profile; raises :class:`~otel_ml.ProfileError` naming ``source``."""
        if not isinstance(d, Mapping) or d.get("format") != PROFILE_FORMAT:
            raise ProfileError(
                f"{source}: not an otel_ml profile (no \"format\": \"{PROFILE_FORMAT}\" field)"
            )
        fv = d.get("format_version")
        if not isinstance(fv, int) or fv < 1:
            raise ProfileError(f"{source}: bad format_version {fv!r}")
        if fv > PROFILE_FORMAT_VERSION:
            raise ProfileError(
                f"{source}: profile format version {fv} is newer than this otel_ml reads "
                f"({PROFILE_FORMAT_VERSION}); upgrade otel-ml or rebuild the profile"
            )
        try:
            created = datetime.fromisoformat(str(d["created"]))
            if created.tzinfo is None:
                created = created.replace(tzinfo=timezone.utc)
            features = [FeatureProfile.from_dict(f) for f in d["features"]]
            preds = [FeatureProfile.from_dict(f) for f in d.get("predictions") or []]
            labels = FeatureProfile.from_dict(d["labels"]) if d.get("labels") else None
            calibration = [ScoreCalibration.from_dict(c) for c in d.get("calibration") or []]
            model, version = d.get("model"), d.get("version")
            mv = d.get("multivariate")
            return cls(
                features={f.name: f for f in features},
                model=None if model is None else str(model),
                version=None if version is None else str(version),
                created=created,
                n_rows=int(d.get("n_rows", 0)),
                predictions={f.name: f for f in preds},
                labels=labels,
                skipped={str(k): str(v) for k, v in dict(d.get("skipped") or {}).items()},
                multivariate=None if mv is None else ReconstructionModel.from_dict(mv),
                calibration={c.output: c for c in calibration},
            )
        except (KeyError, TypeError, ValueError, AttributeError, SketchError) as exc:
            raise ProfileError(f"{source}: corrupt profile: {exc!r}") from exc

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the profile as JSON (atomically: a temporary file, then a rename)."""
        p = Path(path)
        tmp = p.with_name(p.name + ".tmp")
        try:
            tmp.write_text(json.dumps(self.to_dict(), indent=1), encoding="utf-8")
            os.replace(tmp, p)
        except OSError as exc:
            raise ProfileError(f"{p}: cannot write profile: {exc.strerror or exc}") from exc

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Profile:
        """Read a profile written by :meth:`save`.

        Raises :class:`~otel_ml.ProfileError` naming the file and the problem (missing,
        unreadable, not JSON, not a profile, a newer format, corrupt content).
        """
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise ProfileError(f"{p}: cannot read profile: {exc.strerror or exc}") from exc
        except UnicodeDecodeError as exc:
            raise ProfileError(f"{p}: not a JSON profile (not UTF-8 text)") from exc
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ProfileError(
                f"{p}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
            ) from exc
        return cls.from_dict(d, source=str(p))


def _check_variance(value: object) -> None:
    """``multivariate_variance`` must be a number strictly between 0 and 1.

    >>> _check_variance(1.5)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    otel_ml._errors.ConfigurationError: multivariate_variance: must be a number in (0, 1)...
    """
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not 0.0 < float(value) < 1.0:  # type: ignore[arg-type]
        raise ConfigurationError(
            "multivariate_variance: must be a number in (0, 1), the share of the variance "
            f"the PCA keeps (e.g. 0.8), got {value!r}"
        )
