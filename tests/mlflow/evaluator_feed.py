"""One window's worth of a feature, as the evaluator's OTLP decoder hands it to the service
(a DELTA ``ml.feature.values`` exponential histogram and the ``ml.predict.rows`` counter)."""

from __future__ import annotations

import hashlib
import itertools

import numpy as np

from otel_ml import semconv as sc
from otel_ml.evaluator._records import (
    CounterPoint,
    HistogramPoint,
    IngestBatch,
    ResourceIdentity,
    Signal,
    Temporality,
)
from otel_ml.sketch import NumericSketch

NS = 1_000_000_000
_ids = itertools.count()


def feature_batch(model: str, version: str, feature: str, values: np.ndarray,
                  t: float) -> IngestBatch:
    """``values`` of ``feature`` observed at ``t`` (seconds) by ``model`` at ``version``."""
    sketch = NumericSketch()
    sketch.update(np.asarray(values, dtype=float))
    resource = ResourceIdentity("svc", "pod-1")
    model_attrs = [(sc.ML_MODEL_NAME, model), (sc.ML_MODEL_VERSION, version)]
    times = {"start_time_unix_nano": int((t - 1) * NS), "time_unix_nano": int(t * NS)}
    hist = HistogramPoint(
        metric=sc.METRIC_FEATURE_VALUES, model=model, version=version, feature=feature,
        attributes=tuple(sorted([*model_attrs, (sc.ML_FEATURE_NAME, feature)])),
        resource=resource, temporality=Temporality.DELTA, buckets=sketch.to_exponential(),
        **times,
    )
    rows = CounterPoint(
        metric=sc.METRIC_PREDICT_ROWS, model=model, version=version, feature=None,
        attributes=tuple(sorted(model_attrs)), resource=resource,
        temporality=Temporality.DELTA, value=float(len(values)), **times,
    )
    return IngestBatch(
        batch_id=hashlib.sha256(f"{next(_ids)}:{model}:{t}".encode()).hexdigest(),
        signal=Signal.METRICS, histograms=(hist,), counters=(rows,), predictions=(),
        outcomes=(), dropped=(),
    )
