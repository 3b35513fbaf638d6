"""Helpers for running the examples as subprocesses against a real evaluator on 127.0.0.1."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from otel_ml.evaluator import EvaluatorApp
from otel_ml.evaluator._report import ModelReport

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
BIN = Path(sys.executable).parent
MODEL = "credit_risk"
VERSION = "1"
TRAIN_ROWS = 1500
SCORE_ROWS = 600


def base_env(endpoint: str | None) -> dict[str, str]:
    """The environment of an example: no inherited OTEL_*, exporters aimed at ``endpoint``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    if endpoint is None:
        env.update(OTEL_TRACES_EXPORTER="none", OTEL_METRICS_EXPORTER="none")
        env["OTEL_LOGS_EXPORTER"] = "none"
    else:
        env.update(
            OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
            OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
            OTEL_METRIC_EXPORT_INTERVAL="1000",
            OTEL_BSP_SCHEDULE_DELAY="200",
            OTEL_BLRP_SCHEDULE_DELAY="200",
        )
    return env


def run_example(
    script: str, *args: str, env: dict[str, str], cwd: Path, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"{script} failed:\n{done.stdout}\n{done.stderr}"
    return done


@dataclass
class Evaluator:
    """A real evaluator (OTLP/HTTP receiver, store, evaluation, API) on ephemeral ports."""

    app: EvaluatorApp
    endpoint: str
    api: str

    def evaluate(self) -> list[ModelReport]:
        """Reports of every window holding data so far (``tick`` at a time they are closed)."""
        import time

        windows = self.app.config.windows
        # The receiver answers 200 only once a batch is stored, and the examples exit
        # after their exporters flushed: everything sent is in the store by now.
        reports = self.app.service.tick(now=time.time() + windows.size + windows.grace + 1)
        return [r for r in reports if r.model == MODEL]


class Server:
    """A uvicorn subprocess serving one of the FastAPI examples on an ephemeral port."""

    def __init__(self, command: list[str], env: dict[str, str], cwd: Path) -> None:
        self.proc = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.output: list[str] = []
        self._port = threading.Event()
        self.url = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._port.wait(120):
            self.stop()
            raise AssertionError("uvicorn did not start:\n" + "".join(self.output))

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)
            m = re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", line)
            if m:
                self.url = m.group(1)
                self._port.set()

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Stop uvicorn with ``sig`` (it shuts down gracefully); the exit code."""
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(10)
        self._reader.join(10)
        return code


def uvicorn_command(module: str, *, instrument: bool) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        f"{module}:app",
        "--app-dir",
        str(EXAMPLES / "fastapi_app"),
        "--host",
        "127.0.0.1",
        "--port",
        "0",
    ]
    return [str(BIN / "opentelemetry-instrument"), *cmd] if instrument else cmd
