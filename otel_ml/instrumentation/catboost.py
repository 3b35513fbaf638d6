"""Monitor CatBoost models without changing the application: ``CatBoostInstrumentor``.

Every prediction of a CatBoost model becomes one monitored call, exactly as for
scikit-learn (see :mod:`otel_ml.instrumentation.sklearn`): a span, the call /
row / error counters and the duration histogram, per-feature distributions,
the prediction distribution and class counts, data-quality counts against a
reference profile, and one ``ml.prediction`` event carrying the prediction ids.
The model's result comes back untouched (the same object) and its exceptions
propagate unchanged.

What counts as one call
-----------------------
``CatBoost.predict`` and its classes: ``CatBoostClassifier.predict`` /
``predict_proba`` / ``predict_log_proba``, ``CatBoostRegressor.predict``,
``CatBoostRanker.predict``. Only the outermost call is monitored (a scikit-learn
``Pipeline`` whose last step is a CatBoost model, with the scikit-learn
instrumentor on too, is one call). ``staged_predict`` (a generator of
per-iteration predictions) is not monitored. Training is not prediction: calls
made inside ``fit``, ``grid_search``, ``randomized_search``, ``catboost.train``
and ``catboost.cv`` are not monitored unless ``record_training=True``
(``OTEL_ML_CATBOOST_RECORD_TRAINING=true``).

Inputs and outputs
------------------
Inputs are read as for scikit-learn: numpy arrays, pandas DataFrames (features
named by their columns, categorical columns as categories), scipy sparse
matrices; a 1-D array or list is one object (one row), as CatBoost reads it.
Unnamed columns take the model's ``feature_names_``. A ``Pool`` is read through
the data it was built from: while instrumented, ``Pool.__init__`` keeps a *weak*
reference to its numpy array, DataFrame or sparse matrix, so nothing is copied
out of the Pool and nothing is kept alive. A Pool built from a file or whose
source is gone is counted (its rows) without its features (unreadable rows).

Outputs are read by their ``prediction_type``:

- ``Probability`` (``predict_proba``): per-class probability streams;
  ``LogProbability`` (``predict_log_proba``): the probabilities they stand for;
- ``RawFormulaVal`` of a classifier (the default of the base ``CatBoost`` class):
  raw margins, *not* probabilities. They are monitored as the operation
  ``predict_margin`` in their own streams, ``decision`` (one output) or
  ``decision:<class>``, and the predicted class is read from them; the
  prediction event carries the class, no values;
- ``Class``: class labels; a regressor's values (``RawFormulaVal``,
  ``Exponent``...) and a ranker's scores: the ``score`` stream (multi-target
  regression: one stream per target). The one result of a single object is read
  as one row.

Model names
-----------
``name_model(model, "credit_risk", version="3")`` (the function every
instrumentor shares, also importable from here) names one model;
``instrument(models={"CatBoostClassifier": "credit_risk:3"})`` or
``OTEL_ML_CATBOOST_MODELS`` names by class. Otherwise the name is the class name
and the first 8 hex digits of the SHA-256 of the ``model_guid`` CatBoost gives a
model when it is trained (``CatBoostClassifier-3f2a9c1b``): the same model
(saved and loaded, pickled) gets the same name in every process, two trained
models never share one, and a model trained again gets a new name. It is computed once per
instance, at its first monitored call.

Usage
-----
::

    pip install 'otel-ml[catboost]' opentelemetry-distro
    export OTEL_ML_CATBOOST_MODELS="CatBoostClassifier=credit_risk:3"
    opentelemetry-instrument python app.py

The entry point is ``catboost``; ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=catboost``
turns it off; without CatBoost installed it does nothing. In code::

    from otel_ml.instrumentation.catboost import CatBoostInstrumentor, name_model

    CatBoostInstrumentor().instrument()
    model.predict_proba(X)                    # one monitored call
    CatBoostInstrumentor().uninstrument()     # every original is back

The settings are those of the scikit-learn instrumentor, with the prefix
``OTEL_ML_CATBOOST_`` (``MODELS``, ``REFERENCES``, ``VERSION``, ``ID_COLUMN``,
``CAPTURE_FEATURES``, ``FEATURE_SAMPLE_RATE``, ``PREDICTION_EVENTS``,
``RECORD_TRAINING``) and the same ``instrument()`` keywords and hooks.

Examples
--------
>>> CatBoostInstrumentor().instrumentation_dependencies()
('catboost >= 1.2',)
"""

from __future__ import annotations

import dataclasses
from typing import Any, Final

import numpy as np

from otel_ml.instrumentation._framework import (
    Framework,
    FrameworkCalls,
    FrameworkInstrumentor,
    Patcher,
    Read,
    content_name,
    guard_training,
    remember_source,
    source_of,
)
from otel_ml.instrumentation._naming import name_model
from otel_ml.instrumentation._options import MonitorOptions, Task
from otel_ml.instrumentation._outputs import PREDICT_LOG_PROBA, PREDICT_MARGIN
from otel_ml.instrumentation._sklearn_config import SklearnConfig

__all__ = ["FRAMEWORK", "CatBoostInstrumentor", "name_model"]

FRAMEWORK: Final = "catboost"

_instruments_any: Final = ("catboost >= 1.2",)

_BINARY_LOSSES: Final = frozenset({"Logloss", "CrossEntropy"})
_MULTICLASS_LOSSES: Final = frozenset({"MultiClass", "MultiClassOneVsAll"})
_RANKING_LOSSES: Final = frozenset({
    "YetiRank", "YetiRankPairwise", "PairLogit", "PairLogitPairwise", "QueryRMSE",
    "QuerySoftMax", "QueryCrossEntropy", "LambdaMart", "StochasticRank", "StochasticFilter",
})
_BY_TYPE: Final = {"Class": "predict", "Probability": "predict_proba",
                   "LogProbability": PREDICT_LOG_PROBA}
_CLASSES: Final = ("CatBoost", "CatBoostClassifier", "CatBoostRegressor", "CatBoostRanker")
_TRAINING: Final = ("fit", "_fit", "grid_search", "randomized_search")


def _one_row(result: Any) -> Any:
    """The result for a single object (1-D input) read as one row."""
    r = np.asarray(result)
    return r.reshape(1, -1) if r.ndim == 1 else result


class _CatBoost:
    """What the instrumentor knows of CatBoost models (:class:`Framework`)."""

    name = FRAMEWORK

    def complete(self, options: MonitorOptions, instance: Any) -> MonitorOptions:
        import catboost

        classes: Any = getattr(instance, "classes_", None)
        known = tuple(str(c) for c in classes) if classes is not None and len(classes) else None
        class_names = options.class_names
        if isinstance(instance, catboost.CatBoostClassifier):
            class_names = class_names or known
            auto = Task.BINARY_CLASSIFICATION if class_names and len(class_names) == 2 else (
                Task.MULTICLASS_CLASSIFICATION)
        elif isinstance(instance, catboost.CatBoostRegressor):
            auto = Task.REGRESSION
        elif isinstance(instance, catboost.CatBoostRanker):
            auto = Task.AUTO
        else:
            loss = str(instance.get_all_params().get("loss_function", "")).split(":", 1)[0]
            if loss in _BINARY_LOSSES:
                auto, class_names = Task.BINARY_CLASSIFICATION, class_names or known or ("0", "1")
            elif loss in _MULTICLASS_LOSSES:
                auto, class_names = Task.MULTICLASS_CLASSIFICATION, class_names or known
            elif loss in _RANKING_LOSSES:
                auto = Task.AUTO
            else:
                auto = Task.REGRESSION
        names = getattr(instance, "feature_names_", None)
        return dataclasses.replace(
            options,
            framework=FRAMEWORK,
            task=auto if options.task is Task.AUTO else options.task,
            class_names=class_names,
            feature_names=options.feature_names or (tuple(map(str, names)) if names else None),
            skip_nested=True,
        )

    def default_name(self, instance: Any) -> str:
        # The GUID CatBoost gives a model when it is trained, kept by save_model and pickle
        # (its serialized bytes are not stable: the same model serializes differently).
        return content_name(instance, lambda: str(instance.get_metadata()["model_guid"]))

    def read(self, method: str) -> Any:
        """``predict(data, prediction_type, ...)``, ``predict_proba(X, ...)``..."""
        import catboost
        from catboost.core import _is_data_single_object

        def read(
            instance: Any, options: MonitorOptions, args: tuple[Any, ...],
            kwargs: dict[str, Any],
        ) -> Read:
            data = args[0] if args else kwargs.get("data", kwargs.get("X"))
            if method == "predict":
                kind = args[1] if len(args) > 1 else kwargs.get("prediction_type")
                if kind is None:
                    kind = "Class" if isinstance(instance, catboost.CatBoostClassifier) else (
                        "RawFormulaVal")
                operation = _BY_TYPE.get(str(kind), "predict")
                if kind == "RawFormulaVal" and options.task.is_classification:
                    operation = PREDICT_MARGIN
            else:
                operation = method
            if isinstance(data, catboost.Pool):
                return Read(source_of(data, data.num_row()), operation)
            single = _is_data_single_object(data)
            return Read(data, operation, _one_row if single else None)

        return read


class CatBoostInstrumentor(FrameworkInstrumentor):
    """An OpenTelemetry instrumentor for CatBoost prediction calls (see the module docs)."""

    framework = FRAMEWORK
    module = "catboost"
    instruments_any = _instruments_any

    def _framework(self) -> Framework:
        self._cb = _CatBoost()
        return self._cb

    def _install(self, patcher: Patcher, calls: FrameworkCalls, config: SklearnConfig) -> None:
        import catboost
        import catboost.core

        classes = [getattr(catboost.core, n) for n in _CLASSES if hasattr(catboost.core, n)]
        for method in ("predict", "predict_proba", "predict_log_proba"):
            wrapper = calls.wrapper(method, self._cb.read(method))
            patcher.wrap_defined(classes, [method], wrapper, package="catboost")
        patcher.wrap(catboost.Pool, "__init__", remember_source("data"))
        if config.record_training:
            return
        guard_training(patcher, classes, _TRAINING, (catboost, catboost.core),
                       package="catboost")
