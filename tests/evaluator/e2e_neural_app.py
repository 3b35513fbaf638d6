"""A PyTorch or ONNX Runtime model service for the neural end-to-end test (a subprocess).

``python e2e_neural_app.py FRAMEWORK OUT.npz SEED N_ROWS``, run under
``opentelemetry-instrument`` (which exports to the evaluator): predicts with a plain
PyTorch module or ONNX Runtime session -- no monitoring code -- on traffic whose ``f0``
drifted, then sends the labels of 70 % of the rows with ``otel_ml.record_outcome``
(the only otel_ml call) and saves the raw data it used to ``OUT.npz``.
"""

from __future__ import annotations

import sys

import numpy as np

import otel_ml

DRIFT = 0.8
WEIGHTS = (1.5, -0.5, 2.5)  # p(1) = sigmoid(1.5 f0 - 0.5 f1 + 2.5)


def reference_frame(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.column_stack([rng.normal(0.0, 1.0, n), rng.normal(5.0, 2.0, n)]).astype(np.float32)


def true_proba(x: np.ndarray) -> np.ndarray:
    z = WEIGHTS[0] * x[:, 0] + WEIGHTS[1] * x[:, 1] + WEIGHTS[2]
    p = 1.0 / (1.0 + np.exp(-z.astype(np.float64)))
    return np.column_stack([1.0 - p, p])


def torch_model():  # type: ignore[no-untyped-def]
    import torch

    class Scorer(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(2, 2)
            with torch.no_grad():
                self.linear.weight.copy_(torch.tensor([[0.0, 0.0], list(WEIGHTS[:2])]))
                self.linear.bias.copy_(torch.tensor([0.0, WEIGHTS[2]]))

        def forward(self, x):  # type: ignore[no-untyped-def]
            return torch.softmax(self.linear(x), dim=1)

    model = Scorer().eval()

    def predict(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(x)).numpy().astype(np.float64)

    return predict


def onnx_model(rng: np.random.Generator):  # type: ignore[no-untyped-def]
    import onnxruntime
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    train = reference_frame(rng, 4000)
    y = (rng.random(4000) < true_proba(train)[:, 1]).astype(np.int64)
    onx = to_onnx(LogisticRegression().fit(train, y), train[:1])
    with open("onnx_credit.onnx", "wb") as f:
        f.write(onx.SerializeToString())
    session = onnxruntime.InferenceSession("onnx_credit.onnx", providers=["CPUExecutionProvider"])

    def predict(x: np.ndarray) -> np.ndarray:
        _, zipmap = session.run(None, {"X": x})
        return np.array([[row[0], row[1]] for row in zipmap], dtype=np.float64)

    return predict


def main() -> None:
    framework, out, seed, n_rows = sys.argv[1:5]
    rng = np.random.default_rng(int(seed))
    predict = torch_model() if framework == "pytorch" else onnx_model(rng)
    model = "torch_credit" if framework == "pytorch" else "onnx_credit"
    xs, probas, ids = [], [], []
    for _ in range(int(n_rows) // 100):
        x = reference_frame(rng, 100)
        x[:, 0] += DRIFT  # the injected drift
        probas.append(predict(x))
        xs.append(x)
        ids += [str(i) for i in otel_ml.last_prediction_ids()]
    data = np.concatenate(xs)
    proba = np.concatenate(probas)
    y = (rng.random(len(data)) < true_proba(data)[:, 1] - 0.1).astype(int)
    labelled = rng.random(len(data)) < 0.7
    id_arr = np.array(ids)
    otel_ml.record_outcome(
        model=model, ids=list(id_arr[labelled]), actuals=[str(v) for v in y[labelled]]
    )
    np.savez(out, x=data, proba=proba, y=y, labelled=labelled, ids=id_arr)


if __name__ == "__main__":
    main()
