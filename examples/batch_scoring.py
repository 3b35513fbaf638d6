"""A batch scoring job monitored with ``@otel_ml.monitor``.

    python examples/train.py --out artifacts        # once
    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 \\
    OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf \\
        python examples/batch_scoring.py --artifacts artifacts

It reads ``applications.csv`` in chunks, scores each chunk with the model and
writes ``scores.csv`` (``case_id,score,decision``). Each chunk is one monitored
call: a span, the call/row counters and duration, the per-feature
distributions (sent as OTLP exponential histograms), data-quality counts
against the reference profile, and one ``ml.prediction`` event whose
prediction ids are the applications' ``case_id`` (``id_column``), so that
``label_feeder.py`` can report outcomes for them later.

``otel_ml.configure()`` sets up the OTLP exporters from the standard
``OTEL_*`` variables; ``shutdown()`` at the end exports everything before the
job exits.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

import otel_ml

MODEL = "credit_risk"
VERSION = "1"
THRESHOLD = 0.5


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Score applications.csv in chunks.")
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts"))
    parser.add_argument("--chunk", type=int, default=250, help="rows per monitored call")
    parser.add_argument("--limit", type=int, default=None, help="score at most this many rows")
    parser.add_argument("--pause", type=float, default=0.0, help="seconds between chunks")
    parser.add_argument("--out", type=Path, default=None, help="default: ARTIFACTS/scores.csv")
    args = parser.parse_args(argv)

    telemetry = otel_ml.configure(service_name="credit-batch")
    model = joblib.load(args.artifacts / f"{MODEL}.joblib")

    @otel_ml.monitor(
        model=MODEL,
        version=VERSION,
        task="binary_classification",
        reference=args.artifacts / f"{MODEL}-{VERSION}.profile.json",
        id_column="case_id",
        class_names=model.classes_,  # columns of the probability matrix: "0", "1"
    )
    def predict_proba(batch: pd.DataFrame) -> np.ndarray:
        return model.predict_proba(batch)

    results = []
    scored = 0
    for chunk in pd.read_csv(args.artifacts / "applications.csv", chunksize=args.chunk):
        if args.limit is not None:
            chunk = chunk.iloc[: max(args.limit - scored, 0)]
            if chunk.empty:
                break
        scores = predict_proba(chunk)[:, 1]  # probability of default
        results.append(
            pd.DataFrame(
                {
                    "case_id": chunk["case_id"],
                    "score": scores,
                    "decision": np.where(scores >= THRESHOLD, "decline", "approve"),
                }
            )
        )
        scored += len(chunk)
        if args.pause:
            time.sleep(args.pause)

    out = args.out or args.artifacts / "scores.csv"
    pd.concat(results).to_csv(out, index=False)
    print(f"scored {scored} applications in {len(results)} calls -> {out}")
    telemetry.shutdown()  # flush spans, events and metrics before exiting
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
