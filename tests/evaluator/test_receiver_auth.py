"""Bearer-token secrets (env, file, inline), masking, TLS option errors."""

from __future__ import annotations

import http.client
import logging
from pathlib import Path

import pytest
from otlp_samples import RecordingSink, metrics_data, metrics_request, sum_metric

from otel_ml import ConfigurationError
from otel_ml.evaluator._auth import BearerAuth, Secret, TlsOptions, load_secret
from otel_ml.evaluator._otlp_http import OtlpHttpServer

TOKEN = "tok-7f3a9c1e5b"


def test_secret_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVAL_TOKEN", TOKEN)
    assert load_secret(env="EVAL_TOKEN").reveal() == TOKEN
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    assert load_secret(file=path).reveal() == TOKEN
    assert load_secret(value=TOKEN).reveal() == TOKEN
    assert BearerAuth.from_sources(file=path).check(f"Bearer {TOKEN}")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "exactly one"),
        ({"value": "a", "env": "B"}, "exactly one"),
        ({"env": "EVAL_TOKEN_UNSET"}, "EVAL_TOKEN_UNSET is not set"),
        ({"file": "/nonexistent/token"}, "cannot read secret file"),
        ({"value": "  "}, "empty"),
    ],
)
def test_secret_errors_name_the_field_not_the_secret(kwargs: dict[str, str], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match) as err:
        load_secret(field="auth.token", **kwargs)
    assert str(err.value).startswith("auth.token:")


def test_bearer_token_with_whitespace_is_refused_without_showing_it() -> None:
    with pytest.raises(ConfigurationError, match="whitespace") as err:
        BearerAuth.from_sources(token="two words", field="auth.token")
    assert str(err.value).startswith("auth.token:")
    assert "two words" not in str(err.value)


def test_secrets_never_show(caplog: pytest.LogCaptureFixture) -> None:
    auth = BearerAuth([Secret(TOKEN)])
    assert TOKEN not in repr(auth) and TOKEN not in repr(Secret(TOKEN)) and TOKEN not in str(
        Secret(TOKEN)
    )
    body = metrics_request(metrics_data([sum_metric(1)])).SerializeToString()
    caplog.set_level(logging.DEBUG)
    with OtlpHttpServer(RecordingSink(), "127.0.0.1", 0, auth=auth) as srv:
        for header in (f"Bearer {TOKEN}", f"Bearer {TOKEN}x", "Basic abc"):
            conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
            conn.request("POST", "/v1/metrics", body, {
                "Content-Type": "application/x-protobuf", "Authorization": header})
            status = conn.getresponse().status
            conn.close()
            assert status == (200 if header == f"Bearer {TOKEN}" else 401)
    assert TOKEN not in caplog.text


def test_tls_option_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="tls.cert_file"):
        TlsOptions(tmp_path / "missing.pem", tmp_path / "key.pem").ssl_context()
    (tmp_path / "cert.pem").write_text("not a certificate")
    (tmp_path / "key.pem").write_text("not a key")
    with pytest.raises(ConfigurationError, match="not valid PEM"):
        TlsOptions(tmp_path / "cert.pem", tmp_path / "key.pem").ssl_context()
