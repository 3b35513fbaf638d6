"""Inputs scikit-learn takes that are not tables: text documents and scipy.sparse matrices.

Everything goes through the real instrumentor and the real OTLP/HTTP exporters to a
loopback receiver, so what is checked is what would leave the process.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from sdk_otlp_receiver import Received, http_receiver, number
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from otel_ml import semconv
from otel_ml.instrumentation import flush
from otel_ml.instrumentation.sklearn import SklearnInstrumentor


@dataclass
class Exported:
    received: Received
    providers: tuple[TracerProvider, MeterProvider, LoggerProvider]

    def flush(self) -> None:
        flush()
        for provider in self.providers:
            provider.force_flush()

    def rows(self, model: str) -> int:
        return int(
            sum(
                number(p)
                for _, attrs, p in self.received.metric_points(semconv.METRIC_PREDICT_ROWS)
                if attrs[semconv.ML_MODEL_NAME] == model
            )
        )

    def feature_counts(self, model: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for _, attrs, p in self.received.metric_points(semconv.METRIC_FEATURE_VALUES):
            if attrs[semconv.ML_MODEL_NAME] == model:
                name = attrs[semconv.ML_FEATURE_NAME]
                counts[name] = counts.get(name, 0) + int(p.count)
        return counts

    def everything(self) -> bytes:
        """Every request that arrived, as the bytes on the wire (before compression)."""
        r = self.received
        with r.lock:
            return b"".join(m.SerializeToString() for m in (*r.metrics, *r.logs, *r.traces))


@pytest.fixture(name="exported")
def exported_fixture() -> Iterator[Exported]:
    """The instrumentor on SDK providers exporting over OTLP/HTTP to a loopback receiver."""
    with http_receiver() as (url, received):
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(
            SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{url}/v1/traces"))
        )
        logger_provider = LoggerProvider()
        logger_provider.add_log_record_processor(
            SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{url}/v1/logs"))
        )
        reader = PeriodicExportingMetricReader(
            OTLPMetricExporter(endpoint=f"{url}/v1/metrics"), export_interval_millis=3_600_000
        )
        meter_provider = MeterProvider(metric_readers=[reader])
        flush()
        instrumentor = SklearnInstrumentor()
        instrumentor.instrument(
            tracer_provider=tracer_provider,
            logger_provider=logger_provider,
            meter_provider=meter_provider,
        )
        try:
            yield Exported(received, (tracer_provider, meter_provider, logger_provider))
        finally:
            instrumentor.uninstrument()
            for provider in (tracer_provider, meter_provider, logger_provider):
                provider.shutdown()


def _documents(n: int, start: int = 0) -> list[str]:
    words = ["good", "bad", "great", "awful", "fine", "poor"]
    return [
        f"{words[i % 6]} product, private note sensitive{i:04d} " + "x" * (i % 7)
        for i in range(start, start + n)
    ]


def test_text_documents_are_rows_and_their_text_never_leaves(exported):
    train = _documents(120)
    y = np.array([i % 6 in (0, 2, 4) for i in range(120)], dtype=int)
    pipe = Pipeline([("tfidf", TfidfVectorizer()), ("clf", LogisticRegression())]).fit(train, y)
    docs = _documents(25, start=1000)
    few = _documents(3, start=2000)

    pipe.predict_proba(docs)  # a list of str: sketched on the calling thread
    pipe.predict(np.array(few))  # a numpy array of str: a small call, for the worker
    pipe.predict(pd.Series(few, name="review"))  # a pandas Series of str
    pipe.predict([d.encode() for d in few])  # bytes
    exported.flush()

    assert exported.rows("Pipeline") == 25 + 3 + 3 + 3
    sizes = sorted(
        a.value.int_value
        for _, span in exported.received.spans()
        for a in span.attributes
        if a.key == semconv.ML_BATCH_SIZE
    )
    assert sizes == [3, 3, 3, 25]
    # The only feature is each document's length, over every row.
    assert exported.feature_counts("Pipeline") == {semconv.TEXT_LENGTH_FEATURE: 34}
    total = sum(p.sum for _, _, p in exported.received.metric_points(semconv.METRIC_FEATURE_VALUES))
    assert total == pytest.approx(sum(map(len, docs)) + 3 * sum(map(len, few)))
    calls = exported.received.prediction_calls()
    assert sorted(len(c[semconv.ML_PREDICTION_IDS]) for c in calls) == [3, 3, 3, 25]
    wire = exported.everything()
    assert b"sensitive" not in wire and b"private note" not in wire


def test_a_free_text_column_leaves_as_lengths_never_as_categories(exported):
    """A DataFrame's comment column (long, mostly unique strings) is a text feature: the
    sketch of its lengths leaves, its texts do not -- not as ml.feature.value categories,
    not in a span, not in an ml.prediction record."""
    from sklearn.compose import ColumnTransformer

    n = 120
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(
        {
            "amount": rng.normal(size=n),
            "channel": rng.choice(["web", "app"], n),
            "comment": _documents(n),
        }
    )
    y = np.array([i % 6 in (0, 2, 4) for i in range(n)], dtype=int)
    columns = ColumnTransformer([("text", TfidfVectorizer(), "comment"),
                                 ("num", "passthrough", ["amount"])])  # fmt: skip
    pipe = Pipeline([("cols", columns), ("clf", LogisticRegression())]).fit(frame, y)
    pipe.predict(frame.iloc[:60])  # sketched on the calling thread
    pipe.predict(frame.iloc[60:63])  # a small call: the worker's table of three rows
    pipe.predict(frame.iloc[63:64].astype({"comment": "str"}))  # one row, pandas str dtype
    exported.flush()

    counts = exported.feature_counts("Pipeline")
    assert counts["comment"] == 64 and counts["amount"] == 64
    total = sum(
        p.sum
        for _, attrs, p in exported.received.metric_points(semconv.METRIC_FEATURE_VALUES)
        if attrs[semconv.ML_FEATURE_NAME] == "comment"
    )
    assert total == pytest.approx(sum(map(len, frame["comment"][:64])))  # the lengths
    categories = {
        (attrs[semconv.ML_FEATURE_NAME], attrs[semconv.ML_FEATURE_VALUE])
        for _, attrs, _ in exported.received.metric_points(semconv.METRIC_FEATURE_CATEGORIES)
    }
    assert {name for name, _ in categories} == {"channel"}  # a real categorical still is
    wire = exported.everything()
    assert b"sensitive" not in wire and b"private note" not in wire


def _sparse_data(n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    dense = rng.normal(size=(n, 4)) * (rng.random((n, 4)) < 0.4)  # ~60 % zeros
    y = (dense[:, 0] + dense[:, 1] > 0).astype(int)
    return dense, y


@pytest.mark.parametrize("fmt", ["csr_matrix", "csc_array", "coo_array"])
def test_sparse_input_rows_and_features_without_densifying(exported, fmt):
    import scipy.sparse

    dense, y = _sparse_data()
    make = getattr(scipy.sparse, fmt)
    model = LogisticRegression().fit(scipy.sparse.csr_matrix(dense), y)
    big, small = make(dense[:40]), make(dense[100:105])

    model.predict_proba(big)  # sketched on the calling thread
    model.predict(small)  # a small call, for the worker
    exported.flush()

    assert exported.rows("LogisticRegression") == 45
    sizes = sorted(
        a.value.int_value
        for _, span in exported.received.spans()
        for a in span.attributes
        if a.key == semconv.ML_BATCH_SIZE
    )
    assert sizes == [5, 40]
    events = exported.received.log_records(semconv.EVENT_PREDICTION)
    assert sorted(len(a[semconv.ML_PREDICTION_IDS]) for _, _, a in events) == [5, 40]
    seen = np.concatenate([dense[:40], dense[100:105]])
    points = {
        attrs[semconv.ML_FEATURE_NAME]: p
        for _, attrs, p in exported.received.metric_points(semconv.METRIC_FEATURE_VALUES)
    }
    assert set(points) == {"f0", "f1", "f2", "f3"}
    for j in range(4):
        p = points[f"f{j}"]  # the dense column's sketch: stored values and implicit zeros
        assert p.count == 45
        assert p.zero_count == int(np.count_nonzero(seen[:, j] == 0))
        assert p.sum == pytest.approx(seen[:, j].sum())
        assert p.min == pytest.approx(seen[:, j].min()) and p.max == pytest.approx(seen[:, j].max())


def test_a_wide_sparse_matrix_is_described_by_its_non_zeros_per_row(exported):
    from otel_ml.instrumentation._sparse import MAX_SPARSE_COLUMNS

    vocabulary = [f"w{i}" for i in range(MAX_SPARSE_COLUMNS + 500)]
    rng = np.random.default_rng(5)
    train = [" ".join(rng.choice(vocabulary, size=8)) for _ in range(200)]
    vectorizer = TfidfVectorizer(vocabulary=vocabulary).fit(train)
    X = vectorizer.transform(train)
    assert X.shape[1] > MAX_SPARSE_COLUMNS
    model = LogisticRegression().fit(X, np.arange(200) % 2)

    model.predict(X[:30])
    model.predict(X[30:33])
    exported.flush()

    assert exported.rows("LogisticRegression") == 33
    assert exported.feature_counts("LogisticRegression") == {semconv.SPARSE_NONZERO_FEATURE: 33}
    (_, _, point), *more = exported.received.metric_points(semconv.METRIC_FEATURE_VALUES)
    assert not more
    assert point.sum == X[:33].nnz  # non-zeros per row, summed
