"""Monitor XGBoost models without changing the application: ``XGBoostInstrumentor``.

Every prediction of an XGBoost model becomes one monitored call, exactly as for
scikit-learn (see :mod:`otel_ml.instrumentation.sklearn`): a span, the call /
row / error counters and the duration histogram, per-feature distributions,
the prediction distribution and class counts, data-quality counts against a
reference profile, and one ``ml.prediction`` event carrying the prediction ids.
The model's result comes back untouched (the same object) and its exceptions
propagate unchanged.

What counts as one call
-----------------------
``Booster.predict``, ``Booster.inplace_predict``, and the scikit-learn API:
``XGBClassifier.predict`` / ``predict_proba``, ``XGBRegressor.predict``,
``XGBRanker.predict`` (and the random-forest variants). Only the outermost call
is monitored: ``XGBClassifier.predict_proba`` calling ``Booster.predict``
inside, or a scikit-learn ``Pipeline`` whose last step is an ``XGBClassifier``
(with the scikit-learn instrumentor on too), is one call, named after the
outermost model. ``pred_leaf``, ``pred_contribs`` and ``pred_interactions``
calls return leaf indices or feature contributions, not predictions: they run
unmonitored. Training is not prediction: calls made inside ``xgboost.train``,
``xgboost.cv`` and the scikit-learn API's ``fit`` (callbacks, custom metrics)
are not monitored unless ``record_training=True``
(``OTEL_ML_XGBOOST_RECORD_TRAINING=true``). A ``GridSearchCV`` around an XGBoost
model predicts inside scikit-learn's ``fit``: turn the scikit-learn instrumentor
on too, and those calls are not monitored either.

Inputs and outputs
------------------
Inputs are read as for scikit-learn: numpy arrays, pandas DataFrames (features
named by their columns), scipy sparse matrices. Unnamed columns take the
booster's ``feature_names`` when it has them. A ``DMatrix`` is read through
the data it was built from: while instrumented, ``DMatrix.__init__`` keeps a
*weak* reference to its numpy array, DataFrame or sparse matrix, so nothing is
copied out of the DMatrix and nothing is kept alive. A DMatrix built from
anything else (a file, an iterator, a list) or whose source is gone is counted
(its rows) without its features (counted as unreadable rows).

Outputs are read by what they are:

- ``predict_proba`` and the probabilities of ``Booster.predict`` for
  ``binary:logistic`` (one column: the positive class, read as the two-class
  matrix) or ``multi:softprob``: per-class probability streams;
- ``output_margin=True`` or ``inplace_predict(predict_type="margin")``: raw
  margins (log-odds), which are *not* probabilities. They are monitored as the
  operation ``predict_margin`` in their own streams, ``decision`` (one output)
  or ``decision:<class>``, and the predicted class is read from them (margin
  ``> 0``, or the largest); the prediction event carries the class, no values;
- class labels (``XGBClassifier.predict``, ``multi:softmax``), regression values
  and ranking scores (the ``score`` stream; a ranker's task is ``auto``).

Model names
-----------
``name_model(model, "credit_risk", version="3")`` (the same function as for
scikit-learn, also importable from here) names one ``Booster`` or estimator;
``instrument(models={"XGBClassifier": "credit_risk:3"})`` or
``OTEL_ML_XGBOOST_MODELS`` names by class. Otherwise the name is the class
name and the first 8 hex digits of the SHA-256 of the model's saved bytes
(``XGBClassifier-3f2a9c1b``): the same model gets the same name in every
process, two different models never share one. It is computed once per
instance, at its first monitored call (~1 ms for 200 trees); a model changed
later (trained again in place) keeps that name.

Usage
-----
::

    pip install 'otel-ml[xgboost]' opentelemetry-distro
    export OTEL_ML_XGBOOST_MODELS="XGBClassifier=credit_risk:3"
    export OTEL_ML_XGBOOST_REFERENCES="credit_risk=credit_risk-3.profile.json"
    opentelemetry-instrument python app.py

The entry point is ``xgboost``; ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=xgboost``
turns it off; without XGBoost installed (``xgboost`` or ``xgboost-cpu``) it does
nothing. In code::

    from otel_ml.instrumentation.xgboost import XGBoostInstrumentor, name_model

    XGBoostInstrumentor().instrument()
    name_model(booster, "credit_risk", version="3")
    booster.predict(xgboost.DMatrix(X))      # one monitored call
    XGBoostInstrumentor().uninstrument()     # every original is back

The settings are those of the scikit-learn instrumentor, with the prefix
``OTEL_ML_XGBOOST_`` (``MODELS``, ``REFERENCES``, ``VERSION``, ``ID_COLUMN``,
``CAPTURE_FEATURES``, ``FEATURE_SAMPLE_RATE``, ``PREDICTION_EVENTS``,
``RECORD_TRAINING``) and the same ``instrument()`` keywords and hooks.

Examples
--------
>>> XGBoostInstrumentor().instrumentation_dependencies()
('xgboost >= 2.0', 'xgboost-cpu >= 2.0')
"""

from __future__ import annotations

import dataclasses
import json
import weakref
from typing import Any, Final

from otel_ml.instrumentation._framework import (
    Framework,
    FrameworkCalls,
    FrameworkInstrumentor,
    Patcher,
    Read,
    as_class_indices,
    content_name,
    guard_training,
    remember_source,
    source_of,
    two_classes,
)
from otel_ml.instrumentation._naming import name_model
from otel_ml.instrumentation._options import MonitorOptions, Task
from otel_ml.instrumentation._outputs import PREDICT_MARGIN
from otel_ml.instrumentation._sklearn_config import SklearnConfig

__all__ = ["FRAMEWORK", "XGBoostInstrumentor", "name_model"]

FRAMEWORK: Final = "xgboost"

_instruments_any: Final = ("xgboost >= 2.0", "xgboost-cpu >= 2.0")

_PROBABILITY_OBJECTIVES: Final = frozenset({"binary:logistic", "multi:softprob"})
_LABEL_OBJECTIVES: Final = frozenset({"binary:hinge", "multi:softmax"})
_EXPLANATIONS: Final = ("pred_leaf", "pred_contribs", "pred_interactions")
_SKLEARN_CLASSES: Final = (
    "XGBModel",
    "XGBClassifier",
    "XGBRegressor",
    "XGBRanker",
    "XGBRFClassifier",
    "XGBRFRegressor",
)


def _booster(instance: Any) -> Any:
    import xgboost

    return instance if isinstance(instance, xgboost.Booster) else instance.get_booster()


class _XGBoost:
    """What the instrumentor knows of XGBoost models (:class:`Framework`)."""

    name = FRAMEWORK

    def __init__(self, dmatrix: Any) -> None:
        self.dmatrix: Any = dmatrix  # xgboost.DMatrix
        # The objective of each Booster, read once (it decides how outputs are read).
        self.objectives: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()

    def objective(self, booster: Any) -> str:
        found = self.objectives.get(booster)
        if found is None:
            config = json.loads(booster.save_config())
            found = str(config["learner"]["objective"]["name"])
            self.objectives[booster] = found
        return found

    def complete(self, options: MonitorOptions, instance: Any) -> MonitorOptions:
        import xgboost

        booster = _booster(instance)
        class_names = options.class_names
        task = options.task
        if isinstance(instance, xgboost.XGBClassifier):
            class_names = class_names or tuple(str(c) for c in instance.classes_)
            auto = Task.BINARY_CLASSIFICATION if len(class_names) == 2 else (
                Task.MULTICLASS_CLASSIFICATION)
        elif isinstance(instance, xgboost.XGBRanker):
            auto = Task.AUTO
        elif isinstance(instance, xgboost.XGBModel):
            auto = Task.REGRESSION
        else:
            objective = self.objective(booster)
            if objective.startswith("binary:"):
                auto, class_names = Task.BINARY_CLASSIFICATION, class_names or ("0", "1")
            elif objective.startswith("multi:"):
                k = int(json.loads(booster.save_config())["learner"]["learner_model_param"][
                    "num_class"])
                auto = Task.MULTICLASS_CLASSIFICATION
                class_names = class_names or tuple(str(j) for j in range(k))
            elif objective.startswith("rank:"):
                auto = Task.AUTO
            else:
                auto = Task.REGRESSION
        names = booster.feature_names
        return dataclasses.replace(
            options,
            framework=FRAMEWORK,
            task=auto if task is Task.AUTO else task,
            class_names=class_names,
            feature_names=options.feature_names or (tuple(names) if names else None),
            skip_nested=True,
        )

    def default_name(self, instance: Any) -> str:
        return content_name(instance, lambda: bytes(_booster(instance).save_raw("ubj")))

    # -- readers: how each method's call is monitored ----------------------------------------
    def _booster_read(self, booster: Any, data: object, margin: bool) -> Read:
        if margin:
            return Read(data, PREDICT_MARGIN)
        objective = self.objective(booster)
        if objective in _PROBABILITY_OBJECTIVES:
            adapt = two_classes if objective == "binary:logistic" else None
            return Read(data, "predict_proba", adapt)
        if objective in _LABEL_OBJECTIVES:
            return Read(data, "predict", as_class_indices)
        return Read(data, "predict")

    def read_predict(
        self, instance: Any, options: MonitorOptions, args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Read | None:
        """``Booster.predict(data, output_margin=..., pred_leaf=..., ...)``."""
        if any(kwargs.get(name) for name in _EXPLANATIONS):
            return None
        data = args[0] if args else kwargs.get("data")
        if isinstance(data, self.dmatrix):
            data = source_of(data, data.num_row())
        return self._booster_read(instance, data, bool(kwargs.get("output_margin")))

    def read_inplace(
        self, instance: Any, options: MonitorOptions, args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Read | None:
        """``Booster.inplace_predict(data, predict_type="value" | "margin", ...)``."""
        data = args[0] if args else kwargs.get("data")
        return self._booster_read(instance, data, kwargs.get("predict_type") == "margin")

    def read_sklearn(self, operation: str) -> Any:
        """``XGBModel.predict(X, output_margin=...)`` and ``predict_proba(X)``."""

        def read(
            instance: Any, options: MonitorOptions, args: tuple[Any, ...],
            kwargs: dict[str, Any],
        ) -> Read:
            data = args[0] if args else kwargs.get("X")
            if isinstance(data, self.dmatrix):
                data = source_of(data, data.num_row())
            if operation == "predict" and kwargs.get("output_margin"):
                return Read(data, PREDICT_MARGIN)
            return Read(data, operation)

        return read


class XGBoostInstrumentor(FrameworkInstrumentor):
    """An OpenTelemetry instrumentor for XGBoost prediction calls (see the module docs)."""

    framework = FRAMEWORK
    module = "xgboost"
    instruments_any = _instruments_any

    def _framework(self) -> Framework:
        import xgboost

        self._xgb = _XGBoost(xgboost.DMatrix)
        return self._xgb

    def _install(self, patcher: Patcher, calls: FrameworkCalls, config: SklearnConfig) -> None:
        import xgboost
        import xgboost.sklearn
        import xgboost.training

        xgb = self._xgb
        patcher.wrap(xgboost.Booster, "predict", calls.wrapper("predict", xgb.read_predict))
        patcher.wrap(
            xgboost.Booster, "inplace_predict", calls.wrapper("predict", xgb.read_inplace)
        )
        classes = [getattr(xgboost.sklearn, n) for n in _SKLEARN_CLASSES
                   if hasattr(xgboost.sklearn, n)]
        for operation in ("predict", "predict_proba"):
            wrapper = calls.wrapper(operation, xgb.read_sklearn(operation))
            patcher.wrap_defined(classes, [operation], wrapper, package="xgboost")
        patcher.wrap(xgboost.DMatrix, "__init__", remember_source("data"))
        if config.record_training:
            return
        guard_training(patcher, classes, ["fit"], (xgboost, xgboost.training, xgboost.sklearn),
                       package="xgboost")
