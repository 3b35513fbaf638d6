"""What each entry point loads, checked in a fresh interpreter through ``sys.modules``.

A model service that decorates its predict function pays for the SDK (the sketch layer,
numpy, the OpenTelemetry SDK) and nothing else: no scipy, pandas, grpc, statistics,
evaluator or alerting. The evaluator does not load the SDK. The static side (which
package may import which) is ``tests/test_layers.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

#: top-level packages and otel_ml packages a monitored model service must not load
#: (prometheus_client: only with Prometheus asked for; wrapt: only with SklearnInstrumentor;
#: mlflow: only for a models:/ or runs:/ reference)
HEAVY = ("scipy", "pandas", "grpc", "sklearn", "pyarrow", "prometheus_client", "wrapt",
         "pyspark", "dask", "torch", "onnxruntime", "mlflow")
NOT_IN_THE_SDK = ("otel_ml.stats", "otel_ml.evaluator", "otel_ml.alerting", "otel_ml.report",
                  "otel_ml.cli", "otel_ml.demo")


def _loaded_after(code: str) -> set[str]:
    """The modules loaded after running ``code`` in a fresh interpreter."""
    script = textwrap.dedent(code) + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def _offending(modules: set[str], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == f or m.startswith(f + ".") for f in forbidden))


def test_a_monitored_predict_function_loads_neither_scipy_nor_the_evaluator() -> None:
    modules = _loaded_after(
        """
        import numpy as np
        import otel_ml
        from otel_ml.sketch import Profile

        train = {"age": np.linspace(18, 90, 200), "plan": ["basic", "pro"] * 100}
        reference = Profile.from_data(train)

        @otel_ml.monitor("churn", reference=reference)
        def predict(rows):
            return [0.5 for _ in rows]

        import tempfile, pathlib
        saved = pathlib.Path(tempfile.mkdtemp()) / "churn.json"
        reference.save(saved)

        @otel_ml.monitor("churn_saved", reference=str(saved))  # a path: no MLflow either
        def predict_saved(rows):
            return [0.5 for _ in rows]

        predict_saved([[30.0, "basic"]])

        predict([[30.0, "basic"], [40.0, "pro"]])
        predict(np.ones((3, 2)))
        predict({"age": [1.0, 2.0], "plan": ["pro", "gold"]})
        otel_ml.flush()
        """
    )
    assert "otel_ml.instrumentation._monitor" in modules  # the SDK really ran
    assert _offending(modules, HEAVY + NOT_IN_THE_SDK) == []


def test_import_otel_ml_alone_loads_no_sdk_and_the_evaluator_no_sdk_either() -> None:
    bare = _loaded_after("import otel_ml")
    assert _offending(bare, ("numpy", "opentelemetry", "otel_ml.instrumentation")) == []
    evaluator = _loaded_after("import otel_ml.evaluator")
    assert _offending(evaluator, ("otel_ml.instrumentation", "wrapt")) == []
    sketch = _loaded_after("import otel_ml.sketch")
    assert _offending(sketch, ("scipy", "opentelemetry.sdk", "otel_ml.stats")) == []


def test_the_heavier_public_names_still_resolve_from_the_top_level() -> None:
    modules = _loaded_after(
        """
        import otel_ml
        from otel_ml import DriftPolicy, SklearnInstrumentor, compare
        assert otel_ml.compare is compare and otel_ml.DriftPolicy is DriftPolicy
        assert SklearnInstrumentor.__name__ == "SklearnInstrumentor"
        assert set(otel_ml.__all__) <= set(dir(otel_ml))
        for name in otel_ml.__all__:
            getattr(otel_ml, name)
        """
    )
    assert "otel_ml.stats" in modules  # loaded on first use, not before


def test_frameworks_are_patched_when_the_app_imports_them() -> None:
    """opentelemetry-instrument instruments every installed framework at start-up: PyTorch
    and ONNX Runtime are patched when the application imports them, never imported before."""
    script = textwrap.dedent(
        """
        import json, sys
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from otel_ml.instrumentation.onnxruntime import ONNXRuntimeInstrumentor
        from otel_ml.instrumentation.pytorch import PyTorchInstrumentor

        spans = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(spans))
        PyTorchInstrumentor().instrument(tracer_provider=provider)
        ONNXRuntimeInstrumentor().instrument(tracer_provider=provider)
        before = [m for m in ("torch", "onnxruntime") if m in sys.modules]
        import torch  # the application's own import: torch.nn.Module is patched now

        with torch.no_grad():
            torch.nn.Linear(3, 1).eval()(torch.ones(2, 3))
        names = [s.name for s in spans.get_finished_spans()]
        print(json.dumps({"before": before, "spans": names, "ort": "onnxruntime" in sys.modules}))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["before"] == [] and seen["ort"] is False
    assert len(seen["spans"]) == 1 and seen["spans"][0].startswith("forward Linear-")
