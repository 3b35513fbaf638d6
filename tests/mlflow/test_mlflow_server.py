"""The test server itself: it answers, keeps its store across a kill and a restart on the
same port, and leaves no process behind."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
import pytest
from mlflow_server import CLIENT_ENV, MlflowServer


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_kill_restart_same_port_same_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in CLIENT_ENV.items():
        monkeypatch.setenv(name, value)
    server = MlflowServer(tmp_path)
    with server:
        client = mlflow.MlflowClient(server.uri)
        experiment = client.create_experiment("kept")
        pgid = server._proc.pid  # type: ignore[union-attr]
        server.kill()
        assert not _group_alive(pgid)
        assert not server.healthy()
        with pytest.raises(mlflow.MlflowException):
            client.get_experiment(experiment)
        server.start()
        assert server.uri == f"http://127.0.0.1:{server.port}"
        assert client.get_experiment(experiment).name == "kept"
        pgid = server._proc.pid  # type: ignore[union-attr]
    assert not server.running
    assert not _group_alive(pgid)
