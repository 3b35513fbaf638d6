"""A PyTorch model served with no monitoring code, monitored by ``opentelemetry-instrument``.

    OTEL_SERVICE_NAME=churn-torch \\
    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 \\
    OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf \\
    OTEL_ML_PYTORCH_MODELS="ChurnNet=churn_torch:1" \\
        opentelemetry-instrument python examples/pytorch_scoring.py

It trains a small network (those forwards run in training mode with autograd
on: not monitored), then scores batches the way inference code does --
``model.eval()`` and ``torch.inference_mode()`` -- and each batch is one
monitored call named ``churn_torch``: a span ``forward churn_torch``, the
call/row/duration metrics, the four input features' distributions, the class
probabilities and one ``ml.prediction`` event. The layers inside the network
make no calls of their own. Requires ``pip install 'otel-ml[pytorch]'
opentelemetry-distro``.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch


class ChurnNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = torch.nn.Sequential(
            torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.layers(x), dim=1)


def customers(rng: np.random.Generator, n: int) -> torch.Tensor:
    return torch.from_numpy(rng.normal(size=(n, 4)).astype(np.float32))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    model = ChurnNet()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    x = customers(rng, 2_000)
    y = (x[:, 0] - x[:, 2] > 0).long()
    for _ in range(50):  # training: not monitored
        optimizer.zero_grad()
        torch.nn.functional.nll_loss(torch.log(model(x)), y).backward()
        optimizer.step()

    model.eval()
    churners = 0
    with torch.inference_mode():
        for _ in range(args.batches):  # serving: one monitored call per batch
            probabilities = model(customers(rng, 100))
            churners += int((probabilities[:, 1] > 0.5).sum())
    print(f"scored {args.batches * 100} customers, {churners} likely to churn")


if __name__ == "__main__":
    main()
