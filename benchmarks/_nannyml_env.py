"""The NannyML venv the benchmarks that compare against NannyML share.

``benchmarks/.venv-nannyml`` (git-ignored) gets ``pip install -e .`` (this project) and
``REQUIREMENTS``, never the project's own venv; a script re-runs itself inside it with
``rerun_inside`` (``mark`` is the environment variable that says it already is there).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ENV_DIR = HERE / ".venv-nannyml"
REQUIREMENTS = ("nannyml>=0.13,<0.14", "statsmodels", "pandas<3")


def _env_python() -> Path:
    return ENV_DIR / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def prepare_environment() -> Path | None:
    """The venv's python, created and installed into; None when that failed."""
    py = _env_python()
    if not py.exists():
        print(f"creating {ENV_DIR.relative_to(REPO)} ...", flush=True)
        if subprocess.run([sys.executable, "-m", "venv", str(ENV_DIR)], check=False).returncode:
            return None
    print(f"installing this project and {' '.join(REQUIREMENTS)} into it ...", flush=True)
    done = subprocess.run(
        [str(py), "-m", "pip", "install", "--quiet", "-e", str(REPO), *REQUIREMENTS],
        capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        print(done.stderr[-2000:], file=sys.stderr)
        return None
    return py


def rerun_inside(script: str, argv: Sequence[str] | None, mark: str,
                 **env: str) -> int | None:
    """Run ``script`` with ``argv`` (None: this process's) in the venv, with ``mark`` and
    ``env`` set: its exit code, or None when the venv could not be prepared."""
    py = prepare_environment()
    if py is None:
        return None
    cmd = [str(py), str(Path(script).resolve()), *(argv if argv is not None else sys.argv[1:])]
    return subprocess.run(cmd, env=dict(os.environ, **{mark: "1"}, **env),
                          check=False).returncode
