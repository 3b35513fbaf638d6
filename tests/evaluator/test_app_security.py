"""The assembled evaluator with TLS and a bearer token: OTLP/HTTP and the API both refuse
requests without the token, accept them with it, over HTTPS only; secrets never logged."""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from evaluator_wire import metrics_body, model_attrs
from otlp_samples import self_signed

from otel_ml import semconv as sc
from otel_ml.evaluator import EvaluatorApp
from otel_ml.evaluator._config import parse_config


def test_tls_and_bearer_token_on_otlp_and_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cert, key = self_signed(tmp_path)
    monkeypatch.setenv("EVAL_TOKEN", "t0k3n-secret")
    cfg = parse_config(
        {
            "state_dir": "state",
            "receivers": {"http": {"port": 0}, "grpc": {"enabled": False}},
            "api": {"port": 0},
            "auth": {"token_env": "EVAL_TOKEN"},
            "tls": {"cert_file": str(cert), "key_file": str(key)},
        },
        base_dir=tmp_path,
    )
    app = EvaluatorApp.from_config(cfg)
    app.start(tick_interval=0.2)
    ctx = ssl.create_default_context(cafile=str(cert))
    body = metrics_body([(sc.METRIC_PREDICT_CALLS, 3.0, model_attrs("sec"))], t_ns=time.time_ns())

    def call(url: str, token: str | None, data: bytes | None = None) -> int:
        req = urllib.request.Request(url, data=data, method="POST" if data else "GET")
        if data:
            req.add_header("Content-Type", "application/x-protobuf")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=10, context=ctx) as r:
                return int(r.status)
        except urllib.error.HTTPError as e:
            return int(e.code)

    try:
        ep = app.endpoints()
        assert ep["otlp_http"].startswith("https://") and ep["api"].startswith("https://")
        otlp = ep["otlp_http"] + "/v1/metrics"
        assert call(otlp, None, body) == 401
        assert call(otlp, "wrong", body) == 401
        assert call(otlp, "t0k3n-secret", body) == 200
        assert call(ep["api"] + "/api/models", None) == 401
        assert call(ep["api"] + "/api/models", "t0k3n-secret") == 200
        assert call(ep["api"] + "/healthz", None) == 200
        with pytest.raises(OSError):  # plain HTTP is not served (reset or URLError)
            urllib.request.urlopen(ep["api"].replace("https", "http") + "/healthz", timeout=5)
        with urllib.request.urlopen(ep["api"] + "/healthz", timeout=10, context=ctx) as r:
            assert json.loads(r.read())["batches"] == {"stored": 1}
    finally:
        app.stop()
    assert "t0k3n-secret" not in caplog.text
    assert "t0k3n-secret" not in repr(cfg)
