# The otel-ml evaluator: receives OTLP from the Collector, evaluates drift, data quality
# and accuracy per window, serves /metrics and reports on port 8080.
# Build from the repository root:  docker build -f deploy/evaluator.Dockerfile .
FROM python:3.11.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY otel_ml ./otel_ml
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /var/lib/otel-ml otelml \
    && mkdir -p /var/lib/otel-ml && chown otelml /var/lib/otel-ml

USER otelml
WORKDIR /var/lib/otel-ml
# 4318 OTLP/HTTP, 4317 OTLP/gRPC, 8080 API (/metrics, /api/models, HTML reports)
EXPOSE 4317 4318 8080
ENTRYPOINT ["otel-ml", "evaluator"]
CMD ["--config", "/etc/otel-ml/evaluator.yaml"]
