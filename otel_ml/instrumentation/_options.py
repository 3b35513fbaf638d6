"""Typed options of one monitored model, parsed once at decoration / instrumentation time."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

from otel_ml import semconv
from otel_ml._errors import ConfigurationError

if TYPE_CHECKING:
    from otel_ml.instrumentation._features import ReferenceLike

__all__ = ["EventMode", "MonitorKwargs", "MonitorOptions", "OneDimensionalInput", "Task"]


class Task(str, enum.Enum):
    """What the model predicts; decides how its outputs are read.

    ``AUTO`` infers from the output: integer, string and boolean outputs are
    class labels, a 2-D float output is a probability matrix, a 1-D float output
    is a score (classification) or a value (regression).
    """

    AUTO = "auto"
    BINARY_CLASSIFICATION = "binary_classification"
    MULTICLASS_CLASSIFICATION = "multiclass_classification"
    REGRESSION = "regression"

    @property
    def is_classification(self) -> bool:
        return self in (Task.BINARY_CLASSIFICATION, Task.MULTICLASS_CLASSIFICATION)


class OneDimensionalInput(str, enum.Enum):
    """How a 1-D numpy array (or a list of scalars) passed as input is read."""

    ROW = "row"  # one row whose entries are the features (the default)
    COLUMN = "column"  # a batch of one unnamed feature


class EventMode(str, enum.Enum):
    """How prediction ids and values leave (``prediction_events=``).

    ``True`` means ``"batched"`` and ``False`` ``"off"``.
    """

    BATCHED = "batched"  # rows of many calls per ml.prediction record, built by the worker
    PER_CALL = "per_call"  # one record per call, in the call's span context
    OFF = "off"  # no ml.prediction records (no label join)


def _event_mode(value: object) -> EventMode:
    if value is True:
        return EventMode.BATCHED
    if value is False:
        return EventMode.OFF
    try:
        return EventMode(value)
    except ValueError:
        raise ConfigurationError(
            f"prediction_events={value!r} must be True / 'batched' (the default), "
            "'per_call', or False / 'off'"
        ) from None


def _names(value: Iterable[str] | None, field_name: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        raise ConfigurationError(
            f"{field_name} must be a list of feature names, not the string {value!r}; "
            f"write {field_name}=[{value!r}]"
        )
    names = tuple(value)
    bad = [n for n in names if not isinstance(n, str) or not n]
    if bad:
        raise ConfigurationError(f"{field_name} must hold non-empty strings, got {bad[:3]!r}")
    return names


class MonitorKwargs(TypedDict, total=False):
    """The keyword options of :func:`~otel_ml.monitor`: the fields of :class:`MonitorOptions`
    after ``model``, ``version`` and ``reference``, as a caller may spell them (a list for a
    tuple, a string for an enum). Defaults and checks live in :class:`MonitorOptions` only;
    a test keeps the two field lists equal."""

    task: Task | str
    framework: str
    id_column: str | None
    id_argument: str | None
    features: Iterable[str] | None
    exclude_features: Iterable[str]
    feature_names: Iterable[str] | None
    class_names: Iterable[Any] | None
    capture_features: bool
    feature_sample_rate: float
    capture_raw_inputs: bool
    max_raw_rows: int
    prediction_events: bool | str
    max_categories: int
    max_features: int
    max_event_rows: int
    skip_nested: bool
    one_dimensional_input: OneDimensionalInput | str


@dataclass(frozen=True)
class MonitorOptions:
    """Everything one monitored model needs to know, validated once.

    Parameters
    ----------
    model, version
        ``ml.model.name`` and ``ml.model.version`` on every signal.
    task
        A :class:`Task` (or its string value); ``auto`` infers from the outputs.
    framework
        ``ml.model.framework`` on the span (``sklearn``, ``xgboost``, ``custom``).
    reference
        The reference :class:`~otel_ml.Profile` the data-quality counts are
        checked against (missing / out of range / unseen category / schema).
    id_column
        Column (or dict key) of the input holding the prediction ids; it is not
        treated as a feature.
    id_argument
        Name of the predict function's argument holding the ids (a sequence).
    features, exclude_features
        Allow list and deny list of feature names to capture.
    feature_names
        Names of the columns of unnamed inputs (numpy arrays, lists of lists);
        defaults to the reference's feature order, else ``f0, f1, ...``.
    class_names
        Names of the columns of a probability matrix (``model.classes_``).
    capture_features
        Build per-feature sketches and data-quality counts (distributions only,
        never raw values).
    feature_sample_rate
        Share of calls whose features are captured (``1.0``: every call).
    capture_raw_inputs
        Privacy opt-in: put the raw input rows (up to ``max_raw_rows``) as JSON
        into the prediction event. Off by default; raw values never go into spans.
    prediction_events
        How prediction ids and values leave in ``ml.prediction`` records
        (:class:`EventMode`): ``True`` / ``"batched"`` (the rows of many calls per
        record, built off the calling thread), ``"per_call"`` (one record per
        call, in its span's context) or ``False`` / ``"off"``.
    max_categories
        Top-K values kept per categorical feature and for predicted classes.
    max_features
        Features tracked per model; further columns are counted as schema issues.
    max_event_rows
        Rows per ``ml.prediction`` record at most (records are bounded to about
        8 KiB as well, which comes first for any realistic ids).
    skip_nested
        Run unmonitored when called inside another monitored call (the
        scikit-learn instrumentor uses this: a Pipeline's final estimator, or
        ``predict`` calling ``predict_proba``, make one monitored call).
    one_dimensional_input
        How a 1-D input is read (:class:`OneDimensionalInput`).
    """

    model: str
    version: str = semconv.UNKNOWN_VERSION
    task: Task = Task.AUTO
    framework: str = "custom"
    reference: ReferenceLike | None = None
    id_column: str | None = None
    id_argument: str | None = None
    features: tuple[str, ...] | None = None
    exclude_features: tuple[str, ...] = ()
    feature_names: tuple[str, ...] | None = None
    class_names: tuple[str, ...] | None = None
    capture_features: bool = True
    feature_sample_rate: float = 1.0
    capture_raw_inputs: bool = False
    max_raw_rows: int = 100
    prediction_events: bool | str | EventMode = True
    max_categories: int = 100
    max_features: int = 1000
    max_event_rows: int = 10_000
    skip_nested: bool = False
    one_dimensional_input: OneDimensionalInput = OneDimensionalInput.ROW
    _excluded: frozenset[str] = field(init=False, repr=False, compare=False)
    _event_mode: EventMode = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model.strip():
            raise ConfigurationError("model must be a non-empty string naming the model")
        set_ = object.__setattr__
        set_(self, "version", str(self.version))
        try:
            set_(self, "task", Task(self.task))
        except ValueError:
            valid = ", ".join(t.value for t in Task)
            raise ConfigurationError(f"task={self.task!r} is not one of: {valid}") from None
        try:
            set_(self, "one_dimensional_input", OneDimensionalInput(self.one_dimensional_input))
        except ValueError:
            raise ConfigurationError(
                f"one_dimensional_input={self.one_dimensional_input!r} must be 'row' or 'column'"
            ) from None
        set_(self, "_event_mode", _event_mode(self.prediction_events))
        set_(self, "features", _names(self.features, "features"))
        set_(self, "exclude_features", _names(self.exclude_features, "exclude_features") or ())
        set_(self, "feature_names", _names(self.feature_names, "feature_names"))
        if self.class_names is not None:
            set_(self, "class_names", tuple(str(c) for c in self.class_names))
        if self.id_column is not None and self.id_argument is not None:
            raise ConfigurationError(
                "give either id_column (ids in the input) or id_argument (ids passed "
                "as an argument), not both"
            )
        if not 0.0 <= float(self.feature_sample_rate) <= 1.0:
            raise ConfigurationError(
                f"feature_sample_rate must be in [0, 1], got {self.feature_sample_rate}"
            )
        for name in ("max_categories", "max_features", "max_event_rows", "max_raw_rows"):
            if int(getattr(self, name)) < 1:
                raise ConfigurationError(f"{name} must be at least 1, got {getattr(self, name)}")
        overlap = set(self.features or ()) & set(self.exclude_features)
        if overlap:
            raise ConfigurationError(
                f"features {sorted(overlap)} are both allowed and excluded; remove them "
                "from one of features= / exclude_features="
            )
        excluded = set(self.exclude_features)
        if self.id_column is not None:
            excluded.add(self.id_column)
        set_(self, "_excluded", frozenset(excluded))

    @property
    def event_mode(self) -> EventMode:
        """``prediction_events`` read as an :class:`EventMode`.

        >>> MonitorOptions(model="m").event_mode.value
        'batched'
        >>> MonitorOptions(model="m", prediction_events=False).event_mode.value
        'off'
        >>> MonitorOptions(model="m", prediction_events="per_call").event_mode.value
        'per_call'

        """
        return self._event_mode

    def wants_feature(self, name: str) -> bool:
        """Whether the allow/deny lists let feature ``name`` be captured.

        >>> o = MonitorOptions(model="m", exclude_features=["ssn"], id_column="id")
        >>> o.wants_feature("age"), o.wants_feature("ssn"), o.wants_feature("id")
        (True, False, False)
        """
        if name in self._excluded:
            return False
        return self.features is None or name in self.features
