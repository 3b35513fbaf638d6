"""Cost of ``PyTorchInstrumentor`` and ``ONNXRuntimeInstrumentor`` against the bare calls.

Run from the repository root::

    .venv/bin/python benchmarks/neural_overhead.py            # full run (~2 min)
    .venv/bin/python benchmarks/neural_overhead.py --quick    # fewer repetitions

Measures, in one process, each call uninstrumented, inside one bare OTel span plus
one counter add (the baseline of the overhead), and instrumented:

1. PyTorch, an MLP (20 -> 64 -> 2, softmax; 5 sub-modules) under
   ``torch.inference_mode()``: one row and 10,000 rows (200,000 feature values);
2. PyTorch, a deep stack of 48 sub-modules called on one row: what the
   pass-through of nested module calls costs;
3. PyTorch, 256 images of 3 x 32 x 32 (786,432 values) read as per-sample
   summaries;
4. ONNX Runtime, a logistic regression on 20 features (skl2onnx, probabilities
   as a matrix): one row and 10,000 rows.

Times are process CPU time per call (all threads, so the background worker's
sketches and events count), least of the repetitions; instrumented timings
include draining the worker. SDK providers are wired like a service (batch span
and log processors, a periodic metric reader) to exporters that drop the data.
torch runs on one thread (``torch.set_num_threads(1)``) so its own thread pool
does not blur CPU time. Results are printed as a Markdown table.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from _null_sdk import NullService, per_call


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args(argv)
    repeat = 3 if args.quick else 7
    n_single = 500 if args.quick else 3_000
    n_batch = 5 if args.quick else 20

    t0 = time.perf_counter()
    import onnxruntime as ort
    import torch
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    from otel_ml.instrumentation.onnxruntime import ONNXRuntimeInstrumentor
    from otel_ml.instrumentation.pytorch import PyTorchInstrumentor

    t_import = time.perf_counter() - t0
    torch.set_num_threads(1)

    sdk = NullService()
    tp, lp, mp = sdk.tp, sdk.lp, sdk.mp
    providers = sdk.providers

    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(
        torch.nn.Linear(20, 64), torch.nn.ReLU(), torch.nn.Linear(64, 2), torch.nn.Softmax(dim=1)
    ).eval()
    deep = torch.nn.Sequential(
        *[m for _ in range(24) for m in (torch.nn.Linear(20, 20), torch.nn.ReLU())]
    ).eval()
    conv = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
        torch.nn.Linear(4, 2), torch.nn.Softmax(dim=1),
    ).eval()  # fmt: skip
    row_t = torch.from_numpy(rng.normal(size=(1, 20)).astype("f4"))
    batch_t = torch.from_numpy(rng.normal(size=(10_000, 20)).astype("f4"))
    images = torch.rand(256, 3, 32, 32)

    X = rng.normal(size=(2_000, 20)).astype(np.float32)
    lr = LogisticRegression().fit(X, (X[:, 0] + X[:, 1] > 0).astype(int))
    onx = to_onnx(lr, X[:1], options={"zipmap": False}).SerializeToString()
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    session = ort.InferenceSession(onx, so, providers=["CPUExecutionProvider"])
    row_x = X[:1].copy()
    batch_x = rng.normal(size=(10_000, 20)).astype(np.float32)

    def noop() -> None:
        pass

    settle = sdk.settle

    bare = sdk.bare

    def torch_call(model: Any, x: Any) -> Callable[[], Any]:
        def call() -> Any:
            with torch.inference_mode():
                return model(x)

        return call

    calls: dict[str, tuple[Callable[[], Any], int]] = {
        "mlp_row": (torch_call(mlp, row_t), n_single),
        "mlp_batch": (torch_call(mlp, batch_t), n_batch),
        "deep_row": (torch_call(deep, row_t), n_single),
        "images": (torch_call(conv, images), n_batch),
        "onnx_row": (lambda: session.run(None, {"X": row_x}), n_single),
        "onnx_batch": (lambda: session.run(None, {"X": batch_x}), n_batch),
    }
    plain = {k: per_call(fn, n, repeat, noop) for k, (fn, n) in calls.items()}
    with_bare = {k: per_call(bare(fn), n, repeat, settle) for k, (fn, n) in calls.items()}

    instrumentors = [PyTorchInstrumentor(), ONNXRuntimeInstrumentor()]
    t1 = time.perf_counter()
    for instrumentor in instrumentors:
        instrumentor.instrument(**providers)
    t_instrument = time.perf_counter() - t1
    wrapped = {k: per_call(fn, n, repeat, settle) for k, (fn, n) in calls.items()}
    for instrumentor in instrumentors:
        instrumentor.uninstrument()

    def us(seconds: float) -> str:
        return f"{seconds * 1e6:.1f} µs"

    def ms(seconds: float) -> str:
        return f"{seconds * 1e3:.2f} ms"

    rows: list[tuple[str, str]] = [
        ("import torch, onnxruntime, skl2onnx + the two instrumentors", f"{t_import:.2f} s"),
        ("instrument() both", f"{t_instrument * 1e3:.0f} ms"),
    ]
    names = {
        "mlp_row": "PyTorch MLP, 1 row",
        "deep_row": "PyTorch 48 sub-modules, 1 row",
        "onnx_row": "ONNX Runtime LR, 1 row",
    }
    for key, name in names.items():
        base = with_bare[key] - plain[key]
        over = wrapped[key] - plain[key]
        rows += [
            (f"{name}: uninstrumented", us(plain[key])),
            (f"{name}: bare span + counter add (overhead)", us(base)),
            (f"{name}: instrumented (overhead, worker drained)", us(over)),
            (f"{name}: overhead ratio vs bare span + counter", f"{over / base:.2f}x"),
        ]
    batches = {
        "mlp_batch": ("PyTorch MLP, 10,000 x 20", 200_000),
        "onnx_batch": ("ONNX Runtime LR, 10,000 x 20", 200_000),
        "images": ("PyTorch conv, 256 x 3 x 32 x 32 images", images.numel()),
    }
    for key, (name, values) in batches.items():
        over = wrapped[key] - plain[key]
        rows += [
            (f"{name}: uninstrumented / instrumented", f"{ms(plain[key])} / {ms(wrapped[key])}"),
            (f"{name}: bare span + counter add (overhead)", us(with_bare[key] - plain[key])),
            (f"{name}: whole overhead / {values:,} input values", f"{over / values * 1e9:.1f} ns"),
        ]
    print("| measurement | result |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    tp.shutdown()
    lp.shutdown()
    mp.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
