"""What the scikit-learn instrumentor knows of estimators: :class:`SklearnFramework`.

The wrappers themselves are the shared ones of
:class:`~otel_ml.instrumentation._framework.FrameworkCalls`: a call nested in
another monitored call (the :data:`IN_MONITORED_CALL` guard, shared by every
framework instrumentor) runs unmonitored, so a Pipeline's final step,
``predict_proba`` from ``predict`` or the trees of a forest are not monitored a
second time. Here: the estimator's task, class names and feature names, and its
default model name (its class name).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from otel_ml.instrumentation._framework import IN_MONITORED_CALL, WrapperFunction
from otel_ml.instrumentation._options import MonitorOptions, OneDimensionalInput, Task
from otel_ml.instrumentation._sklearn_config import FRAMEWORK

__all__ = ["IN_MONITORED_CALL", "SklearnFramework", "WrapperFunction", "complete_options"]

def _class_names(estimator: object) -> tuple[str, ...] | None:
    classes: Any = getattr(estimator, "classes_", None)
    if getattr(classes, "ndim", None) != 1:
        return None  # not a classifier, not fitted, or multi-output (a list of arrays)
    try:
        return tuple(str(c) for c in classes)
    except TypeError:
        return None


def _feature_names(estimator: object) -> tuple[str, ...] | None:
    names: Any = getattr(estimator, "feature_names_in_", None)
    if getattr(names, "ndim", None) != 1:
        return None
    return tuple(str(n) for n in names)


def _task(estimator: object, class_names: tuple[str, ...] | None) -> Task:
    from sklearn.base import is_classifier, is_regressor

    if is_classifier(estimator):
        if class_names is None:
            return Task.AUTO
        if len(class_names) == 2:
            return Task.BINARY_CLASSIFICATION
        return Task.MULTICLASS_CLASSIFICATION
    if is_regressor(estimator):
        return Task.REGRESSION
    return Task.AUTO


def complete_options(options: MonitorOptions, estimator: object) -> MonitorOptions:
    """Fill what the estimator knows (classes, feature names, task) into ``options``.

    What the user set explicitly wins; ``framework`` is ``sklearn``,
    ``skip_nested`` is on (a call inside another monitored call, such as a
    ``@monitor``-decorated function, is not monitored twice) and a 1-D input is
    a batch, as scikit-learn reads it (documents for a text Pipeline, values of
    one feature for ``IsotonicRegression``), never one row.
    """
    class_names = options.class_names or _class_names(estimator)
    task = options.task
    if task is Task.AUTO:
        task = _task(estimator, class_names)
    return dataclasses.replace(
        options,
        framework=FRAMEWORK,
        task=task,
        class_names=class_names,
        feature_names=options.feature_names or _feature_names(estimator),
        skip_nested=True,
        one_dimensional_input=OneDimensionalInput.COLUMN,
    )


class SklearnFramework:
    """What the scikit-learn instrumentor knows of estimators (see :class:`Framework`)."""

    name = FRAMEWORK

    def complete(self, options: MonitorOptions, instance: Any) -> MonitorOptions:
        return complete_options(options, instance)

    def default_name(self, instance: Any) -> str:
        """The class name (``Pipeline``, ``RandomForestClassifier``)."""
        return type(instance).__name__
