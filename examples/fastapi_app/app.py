"""A scikit-learn model served with FastAPI and monitored with ``@otel_ml.monitor``.

    python examples/train.py --out artifacts        # once
    MODEL_DIR=artifacts \\
    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 \\
    OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf \\
        uvicorn app:app --app-dir examples/fastapi_app --port 8000

    curl -s localhost:8000/score -H 'content-type: application/json' -d '{"applications":
      [{"case_id": "c-1", "age": 35, "income": 42000, "debt_ratio": 0.31,
        "credit_lines": 3, "employment": "salaried", "region": "north"}]}'

Each request is one monitored call of ``predict_proba``: a span, counters, the
duration histogram, per-feature distributions, data-quality counts against the
reference profile, and one ``ml.prediction`` event. The prediction ids are the
applications' ``case_id`` (``id_column``); the response returns them, read with
:func:`otel_ml.last_prediction_ids` right after the call (the model's result
itself is never changed). A client that later learns the outcome reports it
with ``otel_ml.record_outcome`` (see ``examples/label_feeder.py``).

``app_uninstrumented.py`` is the same service with no otel_ml code at all,
monitored by ``opentelemetry-instrument`` instead.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from fastapi import FastAPI
from pydantic import BaseModel

import otel_ml

MODEL = "credit_risk"
VERSION = "1"
MODEL_DIR = Path(os.environ.get("MODEL_DIR", "artifacts"))

model = joblib.load(MODEL_DIR / f"{MODEL}.joblib")


@otel_ml.monitor(
    model=MODEL,
    version=VERSION,
    task="binary_classification",
    reference=MODEL_DIR / f"{MODEL}-{VERSION}.profile.json",
    id_column="case_id",
    class_names=model.classes_,
)
def predict_proba(applications: pd.DataFrame) -> np.ndarray:
    return model.predict_proba(applications)


class Application(BaseModel):
    case_id: str
    age: float
    income: float
    debt_ratio: float
    credit_lines: int
    employment: str
    region: str


class ScoreRequest(BaseModel):
    applications: list[Application]


class Scored(BaseModel):
    case_id: str
    prediction_id: str
    probability_of_default: float


class ScoreResponse(BaseModel):
    model: str
    version: str
    results: list[Scored]


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    telemetry = otel_ml.configure(service_name="credit-api")
    yield
    telemetry.shutdown()  # export what is buffered before the server exits


app = FastAPI(title="credit risk", lifespan=lifespan)


@app.post("/score")
def score(request: ScoreRequest) -> ScoreResponse:
    frame = pd.DataFrame([a.model_dump() for a in request.applications])
    probabilities = predict_proba(frame)[:, 1]
    ids = otel_ml.last_prediction_ids()  # the ids of the call just made, in this request
    return ScoreResponse(
        model=MODEL,
        version=VERSION,
        results=[
            Scored(case_id=c, prediction_id=i, probability_of_default=float(p))
            for c, i, p in zip(frame["case_id"], ids, probabilities, strict=True)
        ],
    )


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}
