# The example model service: the scikit-learn credit-risk model of examples/ served with
# FastAPI and monitored with @otel_ml.monitor. The same image runs the training step and
# the traffic and label-feeder jobs of docker-compose.yml.
# Build from the repository root:  docker build -f deploy/model-service.Dockerfile .
FROM python:3.11.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY otel_ml ./otel_ml
# fastapi/uvicorn at the versions the example's tests ran with
RUN pip install ".[demo,pandas]" "fastapi==0.165.0" "uvicorn==0.54.0" \
    && useradd --system --uid 10001 app
COPY examples ./examples
COPY deploy/traffic.py ./deploy/traffic.py

USER app
# 8000 the API, 9464 the otel_ml Prometheus endpoint (OTEL_METRICS_EXPORTER=otlp,prometheus)
EXPOSE 8000 9464
CMD ["uvicorn", "app:app", "--app-dir", "examples/fastapi_app", "--host", "0.0.0.0", "--port", "8000"]
