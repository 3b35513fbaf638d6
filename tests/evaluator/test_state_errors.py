"""A state database the evaluator cannot use stops start-up with one line naming
``state_dir`` and the fix (exit 2, as every configuration error) — never a traceback —
and the file is left exactly as it was.

Read-only files and directories are made read-only for real: with ``chmod`` for an
ordinary user, and with a read-only bind mount when the tests run as root (root
ignores file modes).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from evaluator_points import batch, feature_point, outcome, prediction

from otel_ml import ConfigurationError
from otel_ml.evaluator._app import STATE_FILE, EvaluatorApp
from otel_ml.evaluator._config import load_config
from otel_ml.evaluator._store import Store
from otel_ml.evaluator._windows import Windowing


def _config(tmp_path: Path) -> Path:
    cfg = tmp_path / "evaluator.yaml"
    cfg.write_text(
        f"state_dir: {tmp_path / 'state'}\n"
        "receivers: {http: {port: 0}, grpc: {enabled: false}}\n"
        "api: {enabled: false}\n"
    )
    return cfg


def _state(tmp_path: Path) -> Path:
    """A real state database with some rows, closed (checkpointed into the main file)."""
    db = tmp_path / "state" / STATE_FILE
    st = Store(db, Windowing(60.0, 5.0))
    for i in range(30):
        st.write(
            [
                batch(
                    feature_point("m", "x", [float(i)] * 50, 10 + i),
                    prediction("m", [f"p{i}-{k}" for k in range(40)], 10 + i),
                    outcome("m", [f"p{i}-{k}" for k in range(20)], [1.0] * 20, 11 + i),
                )
            ]
        )
    st.close()
    return db


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _start(tmp_path: Path) -> str:
    """Build the app from the config; the message of the ConfigurationError it must raise."""
    config = load_config(_config(tmp_path))
    with pytest.raises(ConfigurationError) as info:
        app = EvaluatorApp.from_config(config)
        app.stop()  # not reached when the error is raised
    message = str(info.value)
    assert "\n" not in message
    return message


@contextlib.contextmanager
def _read_only(path: Path) -> Iterator[None]:
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(mode & 0o555)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    try:
        subprocess.run(["mount", "--bind", str(path), str(path)], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:  # pragma: no cover - no mount
        pytest.skip(f"root without mount: cannot make {path} read-only for root ({exc})")
    try:
        subprocess.run(
            ["mount", "-o", "remount,bind,ro", str(path)], check=True, capture_output=True
        )
        yield
    finally:  # lazily: never leave a mount behind, even if a file is still open
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


def _not_sqlite(db: Path) -> None:
    db.write_bytes(b"these are not the rows you are looking for\n" * 500)


def _truncated(db: Path) -> None:
    with open(db, "r+b") as f:
        f.truncate(db.stat().st_size // 3)


def _overwritten(db: Path) -> None:
    with open(db, "r+b") as f:
        f.seek(4096)
        f.write(os.urandom(8192))


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (_not_sqlite, "file is not a database"),
        (_truncated, "malformed"),
        (_overwritten, "malformed"),
    ],
)
def test_a_damaged_state_database_is_named_and_left_untouched(
    tmp_path: Path, damage: Callable[[Path], None], words: str
) -> None:
    db = _state(tmp_path)
    damage(db)
    before = _digest(db)
    message = _start(tmp_path)
    assert message.startswith(f"state_dir: cannot use the state database {db} (")
    assert words in message and "left untouched" in message
    assert _digest(db) == before
    assert not db.with_name(db.name + "-wal").exists() or db.with_name(
        db.name + "-wal"
    ).stat().st_size == 0


@pytest.mark.parametrize("which", ["file", "directory"])
def test_a_read_only_state_is_named_and_left_untouched(tmp_path: Path, which: str) -> None:
    db = _state(tmp_path)
    before = _digest(db)
    with _read_only(db if which == "file" else db.parent):
        message = _start(tmp_path)
    assert message.startswith(f"state_dir: cannot use the state database {db} (")
    assert "readonly" in message or "unable to open" in message, message
    assert "fix the permissions" in message
    assert _digest(db) == before
    st = Store(db, Windowing(60.0, 5.0))  # writable again: every row is still there
    assert st.count("predictions") + st.count("joined") == 30 * 40
    st.close()


def test_the_cli_exits_2_with_one_line(tmp_path: Path) -> None:
    db = _state(tmp_path)
    _not_sqlite(db)
    r = subprocess.run(
        [sys.executable, "-m", "otel_ml.evaluator._cli", "--config", str(_config(tmp_path))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("otel-ml evaluator: error: state_dir:"), lines
