"""The otel_ml evaluator: receives OTLP from applications (or a Collector), keeps windows
of feature sketches and pending predictions, and computes drift, data quality and accuracy.

The few names a user needs:

- :class:`EvaluatorApp` -- the composition root (what ``otel-ml evaluator`` runs): build it
  from an :class:`EvaluatorConfig` with :meth:`EvaluatorApp.from_config`, then ``start()``
  / ``tick()`` / ``stop()``;
- :func:`load_config` (a YAML file) and :func:`parse_config` (a mapping) give the
  :class:`EvaluatorConfig`, checked once, with one-line errors naming the field;
- :func:`evaluate` -- the pure step: one window's :class:`WindowData` (keyed by a
  :class:`WindowKey`) against a :class:`Reference` gives a :class:`ModelReport`
  (:class:`FeatureReport`, :class:`PerformanceReport`, :class:`OperationsReport`,
  :class:`QualityRate`), whose drift entries are :class:`otel_ml.stats.FeatureDrift`.

Everything else (receivers, store, services) is internal and may change; see
``docs/evaluator.md`` and ``docs/architecture.md``. ``EvaluatorApp`` loads on first use,
so importing this package does not load gRPC.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from otel_ml.evaluator._config import load_config, parse_config
from otel_ml.evaluator._config_options import EvaluatorConfig
from otel_ml.evaluator._evaluate import Reference, evaluate
from otel_ml.evaluator._report import (
    FeatureReport,
    ModelReport,
    OperationsReport,
    PerformanceReport,
    QualityRate,
)
from otel_ml.evaluator._windows import WindowData, WindowKey

if TYPE_CHECKING:
    from otel_ml.evaluator._app import EvaluatorApp

__all__ = [
    "EvaluatorApp",
    "EvaluatorConfig",
    "FeatureReport",
    "ModelReport",
    "OperationsReport",
    "PerformanceReport",
    "QualityRate",
    "Reference",
    "WindowData",
    "WindowKey",
    "evaluate",
    "load_config",
    "parse_config",
]


def __getattr__(name: str) -> Any:
    if name == "EvaluatorApp":
        from otel_ml.evaluator._app import EvaluatorApp

        return EvaluatorApp
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
