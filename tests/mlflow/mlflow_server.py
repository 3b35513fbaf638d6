"""A real MLflow tracking server for the tests: ``mlflow server`` on 127.0.0.1.

``MlflowServer(root)`` keeps its SQLite backend store (``root/mlflow.db``) and its served
artifacts (``root/artifacts``, the server proxies uploads and downloads, so clients need no
file access) in ``root``, on a free port chosen once. ``start()`` waits until ``/health``
answers; ``kill()`` is a crash (SIGKILL to the whole process group: the ``mlflow`` CLI and the
uvicorn process it spawns); ``stop()`` is SIGTERM, then SIGKILL after a grace period;
``start()`` again brings it back on the same port with the same store and artifacts (what a
kill/restart test needs). No process is left behind: the group is killed on ``stop()``, on
``__exit__`` and at interpreter exit.

Use it as a context manager, or through the fixtures in this folder's ``conftest.py``::

    with MlflowServer(tmp_path) as server:
        client = mlflow.MlflowClient(server.uri)
        ...
        server.kill()       # the server is gone; clients get connection errors
        server.start()      # same port, same runs, models and artifacts

Start-up costs about 4-5 s of CPU (two interpreters importing mlflow, the schema migration
on the first start); ``server.start_seconds`` holds the last start's wall time.
Job execution (the huey runner) and telemetry are off: one server process, no network.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

# The environment a client in the test process needs as well: no telemetry, and few quick
# retries so a test that talks to a killed server fails in seconds, not minutes.
CLIENT_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}

_SERVER_ENV = {
    **CLIENT_ENV,
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    "PYTHONUNBUFFERED": "1",
}

_LIVE: set[MlflowServer] = set()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _mlflow_command() -> list[str]:
    # The mlflow of this interpreter's environment (its console script next to sys.executable).
    script = Path(sys.executable).with_name("mlflow")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "mlflow"]


class MlflowServer:
    """One ``mlflow server`` process group on 127.0.0.1 with its store under ``root``."""

    def __init__(self, root: Path, *, port: int | None = None, start_timeout: float = 180.0):
        self.root = Path(root)
        self.port = port if port is not None else free_port()
        self.start_timeout = start_timeout
        self.start_seconds = float("nan")
        self._proc: subprocess.Popen[bytes] | None = None
        self._starts = 0

    @property
    def uri(self) -> str:
        """The tracking URI (``http://127.0.0.1:<port>``), the same across restarts."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def backend_store_uri(self) -> str:
        return f"sqlite:///{self.root / 'mlflow.db'}"

    @property
    def log_path(self) -> Path:
        """The server's output of its latest start."""
        return self.root / f"server-{self._starts}.log"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> MlflowServer:
        """Start the server (again) and wait until it answers ``/health``."""
        if self.running:
            return self
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "artifacts").mkdir(exist_ok=True)
        self._starts += 1
        command = [
            *_mlflow_command(),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            "1",
            "--backend-store-uri",
            self.backend_store_uri,
            "--artifacts-destination",
            str(self.root / "artifacts"),
        ]
        began = time.monotonic()
        with open(self.log_path, "wb") as log:
            self._proc = subprocess.Popen(
                command,
                cwd=self.root,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **_SERVER_ENV},
                start_new_session=True,  # its own process group: kill() reaches uvicorn too
            )
        _LIVE.add(self)
        deadline = began + self.start_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                output = self.log_path.read_text(errors="replace")[-3000:]
                self._proc = None
                raise RuntimeError(f"mlflow server exited at start-up:\n{output}")
            if self.healthy():
                self.start_seconds = time.monotonic() - began
                return self
            time.sleep(0.2)
        self.kill()
        output = self.log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"mlflow server did not answer within {self.start_timeout} s:\n{output}")

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as response:
                return bool(response.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def kill(self) -> None:
        """SIGKILL the whole process group (a crash); the store and artifacts stay."""
        self._signal(signal.SIGKILL, grace=0.0)

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM the process group, SIGKILL what is left after ``grace`` seconds."""
        self._signal(signal.SIGTERM, grace=grace)

    def _signal(self, sig: signal.Signals, grace: float) -> None:
        proc, self._proc = self._proc, None
        _LIVE.discard(self)
        if proc is None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=grace if grace > 0 else 10.0)
        except subprocess.TimeoutExpired:
            pass
        # The CLI may be gone while uvicorn still runs: SIGKILL the group whatever happened.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        self._wait_group_gone(proc.pid)
        self._wait_port_free()

    @staticmethod
    def _wait_group_gone(pgid: int, timeout: float = 10.0) -> None:
        # uvicorn, orphaned by the CLI's death, is reaped by init a moment later.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.02)

    def _wait_port_free(self, timeout: float = 10.0) -> None:
        # A killed group's sockets close asynchronously; the next start must find the port free.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind(("127.0.0.1", self.port))
                    return
                except OSError:
                    time.sleep(0.05)

    def __enter__(self) -> MlflowServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@atexit.register
def _kill_leftovers() -> None:
    for server in list(_LIVE):
        server.kill()
