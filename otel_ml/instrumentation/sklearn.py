"""Monitor scikit-learn models without changing the application: ``SklearnInstrumentor``.

Every call to ``predict``, ``predict_proba``, ``decision_function`` or
``predict_log_proba`` of a scikit-learn estimator or ``Pipeline`` becomes one
monitored call: a span, the call / row / error counters and the duration
histogram, per-feature distributions as real histogram metrics
(``ml.feature.values``), the prediction distribution and class counts,
data-quality counts against a reference profile, and one ``ml.prediction``
event carrying the prediction ids (see ``docs/semantic-conventions.md``).
The estimator's result comes back untouched (the same object) and its
exceptions propagate unchanged.

Inputs are read as scikit-learn reads them: a 1-D input is a batch, never one
row. Text -- a list, array or pandas Series of strings or bytes, as a
``TfidfVectorizer`` Pipeline takes -- is one row per document, described by
one numeric feature, ``text.length`` (each document's length in characters):
the text itself is never sketched and never leaves the process. A
``scipy.sparse`` matrix is read from its stored entries, never densified: up to
1,000 columns, one numeric feature per column (exactly the dense column's
sketch); wider, one feature, ``sparse.nonzero`` (non-zero entries per row).

Each ``ml.prediction.values`` stream holds one kind of number: probabilities
per class (``predict_proba``; ``predict_log_proba`` is read as the
probabilities it stands for), ``decision`` / ``decision:<class>`` for
``decision_function`` values (the predicted class is read from them; the event
carries that class, not the margins), ``score`` for other 1-D float outputs.

Usage
-----
Unmodified application, with ``opentelemetry-distro`` installed (it is what
makes ``opentelemetry-instrument`` set up the SDK and its OTLP exporters)::

    pip install 'otel-ml[sklearn]' opentelemetry-distro
    export OTEL_SERVICE_NAME=scoring
    export OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf
    export OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318
    export OTEL_ML_SKLEARN_MODELS="Pipeline=credit_risk:3"
    export OTEL_ML_SKLEARN_REFERENCES="credit_risk=credit_risk-3.profile.json"
    opentelemetry-instrument python app.py

The instrumentor is found through the ``opentelemetry_instrumentor`` entry
point ``sklearn``; ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=sklearn`` turns it
off. ``instrument()`` bridges the metric readers of the SDK meter provider it
finds (the one ``opentelemetry-instrument`` built): ``SketchMetricExporter`` in
front of each periodic reader's exporter (OTLP), a ``SketchCollector`` on each
Prometheus reader's registry (``OTEL_METRICS_EXPORTER=prometheus``), so feature
and prediction distributions leave as real histogram metrics; and it flushes
buffered calls at exit before the SDK shuts down. In code::

    from otel_ml.instrumentation.sklearn import SklearnInstrumentor, name_model

    SklearnInstrumentor().instrument()
    name_model(model, "credit_risk", version="3", reference="credit_risk-3.profile.json")
    model.predict_proba(X)            # one monitored call
    SklearnInstrumentor().uninstrument()   # the original methods are back

What counts as one call
-----------------------
Only the outermost call is monitored. A ``Pipeline`` calling its final
estimator, ``predict`` calling ``predict_proba`` or ``decision_function``, a
forest or a voting ensemble calling its sub-estimators (also in joblib worker
threads and processes with ``n_jobs``) make one monitored call, named after the
outermost estimator; a ``@otel_ml.monitor``-decorated function calling the model
makes one, named by the decorator (for an ``async`` function this is detected
through its span, so only while that span is sampled). Predictions made inside
``fit``, ``partial_fit``, ``fit_transform``, ``fit_predict``, ``transform``,
``inverse_transform`` and ``score`` (cross
validation in ``GridSearchCV.fit``, ``IterativeImputer``) are not monitored:
they are training or evaluation, not traffic. Inside
``opentelemetry.instrumentation.utils.suppress_instrumentation()`` nothing is
monitored.

Methods are wrapped (with wrapt) on the scikit-learn class that defines them,
which covers every public estimator and user subclasses of them; estimators
written from scratch on ``BaseEstimator`` are not covered (decorate their
predict with ``@otel_ml.monitor`` instead). ``instrument()`` imports all of
scikit-learn once to find them (0.3-0.8 s here on top of ``import sklearn``;
``benchmarks/sklearn_overhead.py``).

Configuration
-------------
The model name is the estimator's class name (``Pipeline``,
``RandomForestClassifier``) unless the estimator is named. In order of
precedence:

1. ``name_model(estimator, "credit_risk", version="3", reference=...,
   id_column="case_id")`` for one instance (``id_column``,
   ``capture_features``, ``feature_sample_rate``, ``prediction_events``,
   ``features``, ``exclude_features`` may be given for it), which takes every
   setting not given (the version too) from ``instrument()`` as below; or
   ``name_model(estimator, MonitorOptions(...))`` for full control. The name
   is kept on the estimator (an attribute holding plain data): a model pickled
   or dumped with joblib after ``name_model`` keeps its name when loaded again,
   and still loads where otel_ml is not installed; ``sklearn.base.clone`` does
   not copy it;
2. by class name: ``instrument(models={"Pipeline": "credit_risk:3"})`` (or a
   ``MonitorOptions`` value), or ``OTEL_ML_SKLEARN_MODELS`` with
   ``opentelemetry-instrument`` (``Class=name[:version]``, comma-separated);
3. the class name itself, with version ``version`` (``OTEL_ML_SKLEARN_VERSION``,
   default ``unknown``).

Estimators monitored under the same model name and version share one monitor,
set up from the first of them that is called: name different models differently.

Reference profiles (:class:`otel_ml.Profile` files) are attached by model name
with ``references={"credit_risk": "credit_risk-3.profile.json"}`` or
``OTEL_ML_SKLEARN_REFERENCES`` (``name=path``, comma-separated); they enable the
data-quality counts (out of range, unseen category, schema).

Settings shared by every model not given as ``MonitorOptions``:

=======================  ======================================  ===========================
keyword                  environment variable                    meaning
=======================  ======================================  ===========================
``id_column``            ``OTEL_ML_SKLEARN_ID_COLUMN``           input column holding the
                                                                 prediction ids (a Pipeline
                                                                 whose ColumnTransformer
                                                                 drops it); else generated
``capture_features``     ``OTEL_ML_SKLEARN_CAPTURE_FEATURES``    per-feature sketches
                                                                 (``true``/``false``)
``feature_sample_rate``  ``OTEL_ML_SKLEARN_FEATURE_SAMPLE_RATE`` share of calls captured
``prediction_events``    ``OTEL_ML_SKLEARN_PREDICTION_EVENTS``   emit ``ml.prediction``
                                                                 (``true``/``batched``,
                                                                 ``per_call``, ``false``)
``record_training``      ``OTEL_ML_SKLEARN_RECORD_TRAINING``     also monitor predictions
                                                                 made inside ``fit``,
                                                                 ``score``... (default
                                                                 ``false``)
=======================  ======================================  ===========================

Keyword arguments win over environment variables. ``tracer_provider``,
``meter_provider`` and ``logger_provider`` default to the global providers. The
estimator supplies the class names (``classes_``), the feature names
(``feature_names_in_``) and the task (binary / multiclass classification or
regression). A bad value raises :class:`~otel_ml.ConfigurationError` from
``instrument()``, naming the option or variable; a reference profile that cannot
be read raises :class:`~otel_ml.ProfileError` naming the file. Reference paths
are read once, by ``instrument()`` and ``name_model()``.

Hooks
-----
``request_hook(span, estimator, operation, X)`` runs before the method and
``response_hook(span, estimator, operation, result)`` after it, both inside
the call's span (``operation`` is the method name). A hook that raises is
logged once and counted on ``otel_ml.internal.errors``; the model call goes
on::

    def add_tenant(span, estimator, operation, X):
        span.set_attribute("app.tenant", current_tenant())

    SklearnInstrumentor().instrument(request_hook=add_tenant)

Examples
--------
>>> parse_models("Pipeline=credit_risk:3, Ridge=prices")["Pipeline"].version
'3'
"""

from __future__ import annotations

from otel_ml.instrumentation._framework import (
    Framework,
    FrameworkCalls,
    FrameworkInstrumentor,
    Patcher,
)
from otel_ml.instrumentation._naming import name_model
from otel_ml.instrumentation._sklearn_config import (
    ENV_CAPTURE_FEATURES,
    ENV_FEATURE_SAMPLE_RATE,
    ENV_ID_COLUMN,
    ENV_MODELS,
    ENV_PREDICTION_EVENTS,
    ENV_RECORD_TRAINING,
    ENV_REFERENCES,
    ENV_VERSION,
    FRAMEWORK,
    SklearnConfig,
    parse_models,
    parse_references,
)
from otel_ml.instrumentation._sklearn_package import _instruments

__all__ = [
    "ENV_CAPTURE_FEATURES",
    "ENV_FEATURE_SAMPLE_RATE",
    "ENV_ID_COLUMN",
    "ENV_MODELS",
    "ENV_PREDICTION_EVENTS",
    "ENV_RECORD_TRAINING",
    "ENV_REFERENCES",
    "ENV_VERSION",
    "SklearnInstrumentor",
    "name_model",
    "parse_models",
    "parse_references",
]

class SklearnInstrumentor(FrameworkInstrumentor):
    """An OpenTelemetry instrumentor for scikit-learn prediction calls (see the module docs)."""

    framework = FRAMEWORK
    module = "sklearn"
    instruments_any = _instruments

    def _framework(self) -> Framework:
        from otel_ml.instrumentation._sklearn_calls import SklearnFramework

        return SklearnFramework()

    def _install(self, patcher: Patcher, calls: FrameworkCalls, config: SklearnConfig) -> None:
        from otel_ml.instrumentation import _sklearn_patch

        _sklearn_patch.install(patcher, calls.wrapper, record_training=config.record_training)
