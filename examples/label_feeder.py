"""Report ground truth as it arrives: ``otel_ml.record_outcome`` from a separate process.

    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 \\
    OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf \\
        python examples/label_feeder.py --outcomes artifacts/outcomes.csv --interval 5

In production, whether an applicant defaulted is known weeks after the
prediction, in another system. This job plays that system: it reads
``case_id,defaulted`` rows and reports them in small batches, one
``ml.outcome`` event per batch, pausing ``--interval`` seconds between batches.
The evaluator joins each outcome with the ``ml.prediction`` event of the same
id (the batch job and the FastAPI app use ``case_id`` as the prediction id) to
compute accuracy, F1, AUC... per window, whatever the order of arrival.

``--fraction`` reports only part of the outcomes (label coverage below 100%,
as in real life).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

import otel_ml

MODEL = "credit_risk"
VERSION = "1"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Report outcomes with otel_ml.record_outcome.")
    parser.add_argument("--outcomes", type=Path, default=Path("artifacts/outcomes.csv"))
    parser.add_argument("--batch", type=int, default=100, help="outcomes per event")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between batches")
    parser.add_argument("--fraction", type=float, default=1.0, help="share of outcomes reported")
    parser.add_argument("--limit", type=int, default=None, help="report at most this many")
    args = parser.parse_args(argv)

    telemetry = otel_ml.configure(service_name="credit-labels", traces=False, metrics=False)
    outcomes = pd.read_csv(args.outcomes, dtype={"case_id": str})
    if args.fraction < 1.0:
        outcomes = outcomes.sample(frac=args.fraction, random_state=0).sort_index()
    if args.limit is not None:
        outcomes = outcomes.head(args.limit)

    sent = 0
    for start in range(0, len(outcomes), args.batch):
        part = outcomes.iloc[start : start + args.batch]
        otel_ml.record_outcome(
            model=MODEL,
            version=VERSION,
            ids=part["case_id"].tolist(),
            actuals=part["defaulted"].tolist(),
        )
        sent += len(part)
        if args.interval and start + args.batch < len(outcomes):
            time.sleep(args.interval)

    print(f"reported {sent} outcomes for {MODEL}")
    telemetry.shutdown()  # the outcome events leave before the process does
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
