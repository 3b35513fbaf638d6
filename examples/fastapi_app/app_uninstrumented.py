"""The same credit-risk service with no monitoring code: ``opentelemetry-instrument`` adds it.

    python examples/train.py --out artifacts        # once
    MODEL_DIR=artifacts \\
    OTEL_SERVICE_NAME=credit-api \\
    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 \\
    OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf \\
    OTEL_ML_SKLEARN_MODELS=Pipeline=credit_risk:1 \\
    OTEL_ML_SKLEARN_ID_COLUMN=case_id \\
    OTEL_ML_SKLEARN_REFERENCES=credit_risk=artifacts/credit_risk-1.profile.json \\
        opentelemetry-instrument uvicorn app_uninstrumented:app --app-dir examples/fastapi_app

With ``otel-ml[sklearn]`` and ``opentelemetry-distro`` installed,
``opentelemetry-instrument`` sets up the SDK from the ``OTEL_*`` variables and
loads otel_ml's ``SklearnInstrumentor``: every ``predict_proba`` of the Pipeline
becomes a monitored call named ``credit_risk`` (``OTEL_ML_SKLEARN_MODELS``),
with the ``case_id`` column (which the Pipeline drops) as prediction ids. This
file imports neither OpenTelemetry nor otel_ml.
"""

from __future__ import annotations

import os
from pathlib import Path

import joblib
import pandas as pd
from fastapi import FastAPI
from pydantic import BaseModel

MODEL_DIR = Path(os.environ.get("MODEL_DIR", "artifacts"))

model = joblib.load(MODEL_DIR / "credit_risk.joblib")


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
    probability_of_default: float


class ScoreResponse(BaseModel):
    results: list[Scored]


app = FastAPI(title="credit risk")


@app.post("/score")
def score(request: ScoreRequest) -> ScoreResponse:
    frame = pd.DataFrame([a.model_dump() for a in request.applications])
    probabilities = model.predict_proba(frame)[:, 1]
    return ScoreResponse(
        results=[
            Scored(case_id=c, probability_of_default=float(p))
            for c, p in zip(frame["case_id"], probabilities, strict=True)
        ]
    )


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}
