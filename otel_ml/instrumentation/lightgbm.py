"""Monitor LightGBM models without changing the application: ``LightGBMInstrumentor``.

Every prediction of a LightGBM model becomes one monitored call, exactly as for
scikit-learn (see :mod:`otel_ml.instrumentation.sklearn`): a span, the call /
row / error counters and the duration histogram, per-feature distributions,
the prediction distribution and class counts, data-quality counts against a
reference profile, and one ``ml.prediction`` event carrying the prediction ids.
The model's result comes back untouched (the same object) and its exceptions
propagate unchanged.

What counts as one call
-----------------------
``Booster.predict`` and the scikit-learn API: ``LGBMClassifier.predict`` /
``predict_proba``, ``LGBMRegressor.predict``, ``LGBMRanker.predict``. Only the
outermost call is monitored: ``LGBMClassifier.predict`` calling
``predict_proba`` and ``Booster.predict`` inside, or a scikit-learn
``Pipeline`` whose last step is an ``LGBMClassifier`` (with the scikit-learn
instrumentor on too), is one call, named after the outermost model.
``pred_leaf`` and ``pred_contrib`` calls return leaf indices or feature
contributions, not predictions: they run unmonitored. Training is not
prediction: calls made inside ``lightgbm.train``, ``lightgbm.cv`` and the
scikit-learn API's ``fit`` (callbacks, custom metrics) are not monitored unless
``record_training=True`` (``OTEL_ML_LIGHTGBM_RECORD_TRAINING=true``).

Inputs and outputs
------------------
Inputs are read as for scikit-learn: numpy arrays, pandas DataFrames (features
named by their columns), scipy sparse matrices. Unnamed columns take the
booster's ``feature_name()`` (``Column_0``... when trained without names). A
LightGBM ``Dataset`` cannot be passed to ``predict`` (LightGBM refuses it), so
there is none to read; a file path passed to ``Booster.predict`` is counted as
a call with no rows read.

Outputs are read by what they are:

- ``predict_proba`` and the probabilities of ``Booster.predict`` for a
  ``binary`` objective (one column: the positive class, read as the two-class
  matrix) or ``multiclass``: per-class probability streams;
- ``raw_score=True``: raw scores (log-odds), which are *not* probabilities.
  They are monitored as the operation ``predict_margin`` in their own streams,
  ``decision`` (one output) or ``decision:<class>``, and the predicted class is
  read from them; the prediction event carries the class, no values;
- class labels (``LGBMClassifier.predict``), regression values and ranking
  scores (the ``score`` stream; a ranker's task is ``auto``).

Model names
-----------
``name_model(model, "credit_risk", version="3")`` (the function every
instrumentor shares, also importable from here) names one ``Booster`` or
estimator; ``instrument(models={"LGBMClassifier": "credit_risk:3"})`` or
``OTEL_ML_LIGHTGBM_MODELS`` names by class. Otherwise the name is the class name
and the first 8 hex digits of the SHA-256 of the model's text
(``model_to_string()``; ``LGBMClassifier-3f2a9c1b``): the same model gets the same
name in every process, two different models never share one. It is computed
once per instance, at its first monitored call.

Usage
-----
::

    pip install 'otel-ml[lightgbm]' opentelemetry-distro
    export OTEL_ML_LIGHTGBM_MODELS="LGBMClassifier=credit_risk:3"
    opentelemetry-instrument python app.py

The entry point is ``lightgbm``; ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=lightgbm``
turns it off; without LightGBM installed it does nothing. In code::

    from otel_ml.instrumentation.lightgbm import LightGBMInstrumentor, name_model

    LightGBMInstrumentor().instrument()
    booster.predict(X)                        # one monitored call
    LightGBMInstrumentor().uninstrument()     # every original is back

The settings are those of the scikit-learn instrumentor, with the prefix
``OTEL_ML_LIGHTGBM_`` (``MODELS``, ``REFERENCES``, ``VERSION``, ``ID_COLUMN``,
``CAPTURE_FEATURES``, ``FEATURE_SAMPLE_RATE``, ``PREDICTION_EVENTS``,
``RECORD_TRAINING``) and the same ``instrument()`` keywords and hooks.

Examples
--------
>>> LightGBMInstrumentor().instrumentation_dependencies()
('lightgbm >= 4.0',)
"""

from __future__ import annotations

import dataclasses
from typing import Any, Final

from otel_ml.instrumentation._framework import (
    Framework,
    FrameworkCalls,
    FrameworkInstrumentor,
    Patcher,
    Read,
    content_name,
    guard_training,
    two_classes,
)
from otel_ml.instrumentation._naming import name_model
from otel_ml.instrumentation._options import MonitorOptions, Task
from otel_ml.instrumentation._outputs import PREDICT_MARGIN
from otel_ml.instrumentation._sklearn_config import SklearnConfig

__all__ = ["FRAMEWORK", "LightGBMInstrumentor", "name_model"]

FRAMEWORK: Final = "lightgbm"

_instruments_any: Final = ("lightgbm >= 4.0",)

_EXPLANATIONS: Final = ("pred_leaf", "pred_contrib")
_BINARY: Final = frozenset({"binary", "cross_entropy", "xentropy"})
_MULTICLASS: Final = frozenset({"multiclass", "softmax", "multiclassova", "multiclass_ova",
                                "ova", "ovr"})
_RANKING: Final = frozenset({"lambdarank", "rank_xendcg", "xendcg", "xe_ndcg",
                             "xe_ndcg_mart", "xendcg_mart"})
_SKLEARN_CLASSES: Final = ("LGBMModel", "LGBMClassifier", "LGBMRegressor", "LGBMRanker")


def _booster(instance: Any) -> Any:
    import lightgbm

    return instance if isinstance(instance, lightgbm.Booster) else instance.booster_


def _objective(booster: Any) -> str:
    """The booster's objective (its first word: ``binary``, ``multiclass num_class:3``)."""
    params = getattr(booster, "params", None) or {}
    objective = params.get("objective") or params.get("application") or ""
    if not objective:
        for line in booster.model_to_string(num_iteration=0).splitlines()[:20]:
            if line.startswith("objective="):
                objective = line.partition("=")[2]
                break
    return str(objective).split(" ", 1)[0]


class _LightGBM:
    """What the instrumentor knows of LightGBM models (:class:`Framework`)."""

    name = FRAMEWORK

    def complete(self, options: MonitorOptions, instance: Any) -> MonitorOptions:
        import lightgbm

        booster = _booster(instance)
        class_names = options.class_names
        if isinstance(instance, lightgbm.LGBMClassifier):
            class_names = class_names or tuple(str(c) for c in instance.classes_)
            auto = Task.BINARY_CLASSIFICATION if len(class_names) == 2 else (
                Task.MULTICLASS_CLASSIFICATION)
        elif isinstance(instance, lightgbm.LGBMRanker):
            auto = Task.AUTO
        elif isinstance(instance, lightgbm.LGBMModel):
            auto = Task.REGRESSION
        else:
            objective = _objective(booster)
            if objective in _BINARY:
                auto, class_names = Task.BINARY_CLASSIFICATION, class_names or ("0", "1")
            elif objective in _MULTICLASS:
                k = booster.num_model_per_iteration()
                auto = Task.MULTICLASS_CLASSIFICATION
                class_names = class_names or tuple(str(j) for j in range(k))
            elif objective in _RANKING:
                auto = Task.AUTO
            else:
                auto = Task.REGRESSION
        names = booster.feature_name()
        return dataclasses.replace(
            options,
            framework=FRAMEWORK,
            task=auto if options.task is Task.AUTO else options.task,
            class_names=class_names,
            feature_names=options.feature_names or (tuple(names) if names else None),
            skip_nested=True,
        )

    def default_name(self, instance: Any) -> str:
        return content_name(instance, lambda: _booster(instance).model_to_string())

    def read_booster(
        self, instance: Any, options: MonitorOptions, args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Read | None:
        """``Booster.predict(data, start_iteration, num_iteration, raw_score, pred_leaf, ...)``."""
        if any(kwargs.get(name) for name in _EXPLANATIONS) or any(args[4:6]):
            return None
        data = args[0] if args else kwargs.get("data")
        if (args[3] if len(args) > 3 else kwargs.get("raw_score")):
            return Read(data, PREDICT_MARGIN)
        if options.task is Task.BINARY_CLASSIFICATION:
            return Read(data, "predict_proba", two_classes)
        if options.task is Task.MULTICLASS_CLASSIFICATION:
            return Read(data, "predict_proba")
        return Read(data, "predict")

    def read_sklearn(self, operation: str) -> Any:
        """``LGBMModel.predict(X, raw_score, start_iteration, num_iteration, pred_leaf, ...)``."""

        def read(
            instance: Any, options: MonitorOptions, args: tuple[Any, ...],
            kwargs: dict[str, Any],
        ) -> Read | None:
            if any(kwargs.get(name) for name in _EXPLANATIONS) or any(args[4:6]):
                return None
            data = args[0] if args else kwargs.get("X")
            if (args[1] if len(args) > 1 else kwargs.get("raw_score")):
                return Read(data, PREDICT_MARGIN)
            return Read(data, operation)

        return read


class LightGBMInstrumentor(FrameworkInstrumentor):
    """An OpenTelemetry instrumentor for LightGBM prediction calls (see the module docs)."""

    framework = FRAMEWORK
    module = "lightgbm"
    instruments_any = _instruments_any

    def _framework(self) -> Framework:
        self._lgb = _LightGBM()
        return self._lgb

    def _install(self, patcher: Patcher, calls: FrameworkCalls, config: SklearnConfig) -> None:
        import lightgbm
        import lightgbm.engine
        import lightgbm.sklearn

        lgb = self._lgb
        patcher.wrap(lightgbm.Booster, "predict", calls.wrapper("predict", lgb.read_booster))
        classes = [getattr(lightgbm.sklearn, n) for n in _SKLEARN_CLASSES
                   if hasattr(lightgbm.sklearn, n)]
        for operation in ("predict", "predict_proba"):
            wrapper = calls.wrapper(operation, lgb.read_sklearn(operation))
            patcher.wrap_defined(classes, [operation], wrapper, package="lightgbm")
        if config.record_training:
            return
        guard_training(patcher, classes, ["fit"], (lightgbm, lightgbm.engine, lightgbm.sklearn),
                       package="lightgbm")
