"""Fixtures of the MLflow tests: one real tracking server per session (``mlflow_server``) and
a client environment pointed at it (``tracking_uri``). A test that kills the shared server
restarts it (same port and store) before it ends, also when it fails."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mlflow_server import CLIENT_ENV, MlflowServer


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """A running ``mlflow server`` shared by the session, killed at its end (its store is
    thrown away: a graceful stop only costs seconds)."""
    server = MlflowServer(tmp_path_factory.mktemp("mlflow")).start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def tracking_uri(mlflow_server: MlflowServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """The shared server's URI, also set as MLFLOW_TRACKING_URI (with the quick-retry client
    environment) for the duration of the test."""
    for name, value in CLIENT_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.uri)
    return mlflow_server.uri
