"""``otel-ml evaluator``: a configuration error stops start-up with one line naming the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import sys; from otel_ml.cli import main; sys.exit(main())", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_bad_config_exits_2_naming_the_key_and_the_fix(tmp_path: Path) -> None:
    cfg = tmp_path / "evaluator.yaml"
    cfg.write_text("windows: {size: 10s}\n")
    r = _run("evaluator", "--config", str(cfg))
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "windows.size" in lines[0] and "[60 s, 86400 s]" in lines[0]


def test_unreadable_reference_and_unknown_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the same entry point, in this process (the subprocess test above covers the exit code
    # of a real process; each interpreter start costs seconds on a loaded machine)
    from otel_ml.cli import main

    cfg = tmp_path / "evaluator.yaml"
    cfg.write_text("references:\n  - {model: m, path: missing.json}\n")
    assert main(["evaluator", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "references[0].path" in err and "otel-ml profile" in err
    cfg.write_text("recievers: {}\n")
    assert main(["evaluator", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "did you mean 'receivers'" in err
