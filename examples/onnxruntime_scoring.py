"""An ONNX model served with ONNX Runtime and no monitoring code, monitored by
``opentelemetry-instrument``.

    OTEL_SERVICE_NAME=churn-onnx \\
    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 \\
    OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf \\
    OTEL_ML_ONNXRUNTIME_VERSION=1 \\
        opentelemetry-instrument python examples/onnxruntime_scoring.py --out churn.onnx

It converts a scikit-learn model to ONNX (skl2onnx), loads it in an
``InferenceSession`` and scores batches: each ``session.run`` is one monitored
call of the model ``churn`` (the model file's name): a span ``run churn``, the
call/row/duration metrics, the four features' distributions, the predicted
classes (the ``label`` output) and class probabilities (the ``probabilities``
output), and one ``ml.prediction`` event. Requires ``pip install
'otel-ml[onnxruntime]' skl2onnx opentelemetry-distro``.
"""

from __future__ import annotations

import argparse

import numpy as np
import onnxruntime
from skl2onnx import to_onnx
from sklearn.linear_model import LogisticRegression


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="churn.onnx", help="where to write the ONNX model")
    parser.add_argument("--batches", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2_000, 4)).astype(np.float32)
    y = (X[:, 0] - X[:, 2] > 0).astype(np.int64)
    model = LogisticRegression().fit(X, y)
    with open(args.out, "wb") as f:
        f.write(to_onnx(model, X[:1]).SerializeToString())

    session = onnxruntime.InferenceSession(args.out, providers=["CPUExecutionProvider"])
    churners = 0
    for _ in range(args.batches):  # one monitored call per batch
        labels, _probabilities = session.run(None, {"X": rng.normal(size=(100, 4)).astype("f4")})
        churners += int(labels.sum())
    print(f"scored {args.batches * 100} customers, {churners} likely to churn")


if __name__ == "__main__":
    main()
