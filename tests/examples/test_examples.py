"""Every example, run as a subprocess against a real evaluator on 127.0.0.1 (short mode).

The examples' telemetry travels over the real OTLP/HTTP exporters to the
evaluator's receiver; the evaluator's reports (drift, quality, label join) are
checked against what the examples themselves computed.
"""

from __future__ import annotations

import json
import signal
import subprocess
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml
from example_support import (
    BIN,
    EXAMPLES,
    MODEL,
    SCORE_ROWS,
    TRAIN_ROWS,
    VERSION,
    Evaluator,
    Server,
    base_env,
    run_example,
    uvicorn_command,
)

from otel_ml.evaluator import EvaluatorApp
from otel_ml.evaluator._config import parse_config
from otel_ml.evaluator._report import ModelReport
from otel_ml.sketch import Profile

FEATURES = {"age", "income", "debt_ratio", "credit_lines", "employment", "region"}


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``examples/train.py`` run once (small sizes): model, reference profile, data, outcomes."""
    out = tmp_path_factory.mktemp("artifacts")
    run_example(
        "train.py",
        "--out",
        str(out),
        "--train-rows",
        str(TRAIN_ROWS),
        "--score-rows",
        str(SCORE_ROWS),
        env=base_env(None),
        cwd=out,
    )
    return out


@pytest.fixture
def evaluator_for(tmp_path: Path) -> Iterator[Callable[[Path], Evaluator]]:
    """Start a real evaluator whose reference is the profile in an artifacts directory."""
    apps: list[EvaluatorApp] = []

    def start(artifacts: Path) -> Evaluator:
        config = parse_config(
            {
                "state_dir": str(tmp_path / f"state-{len(apps)}"),
                "receivers": {"http": {"port": 0}, "grpc": {"enabled": False}},
                "api": {"port": 0},
                # One hour: a short test lands in one window (or two, summed by the tests).
                "windows": {"size": "1h", "grace": "1s", "min_rows": 50},
                "references": [
                    {
                        "model": MODEL,
                        "version": VERSION,
                        "path": str(artifacts / f"{MODEL}-{VERSION}.profile.json"),
                    }
                ],
            }
        )
        app = EvaluatorApp.from_config(config)
        apps.append(app)
        app.start(tick_interval=3600)
        urls = app.endpoints()
        return Evaluator(app, urls["otlp_http"], urls["api"])

    yield start
    for app in apps:
        app.stop()


@pytest.fixture
def evaluator(evaluator_for: Callable[[Path], Evaluator], artifacts: Path) -> Evaluator:
    return evaluator_for(artifacts)


def _totals(reports: list[ModelReport]) -> tuple[int, int, float]:
    """Rows, labelled rows and (row-weighted) accuracy over the reports of the model."""
    rows = sum(r.n_rows for r in reports)
    labelled = sum(r.performance.n_labelled for r in reports if r.performance is not None)
    hits = sum(
        r.performance.values()["accuracy"] * r.performance.n_labelled
        for r in reports
        if r.performance is not None and r.performance.n_labelled
    )
    return rows, labelled, hits / labelled if labelled else float("nan")


def _accuracy(scores: pd.DataFrame, outcomes: pd.DataFrame) -> float:
    joined = scores.merge(outcomes, on="case_id")
    predicted = (joined["probability_of_default"] >= 0.5).astype(int)
    return float((predicted == joined["defaulted"]).mean())


def test_batch_scoring_then_label_feeder(artifacts: Path, evaluator: Evaluator, tmp_path):
    env = base_env(evaluator.endpoint)
    limit = 400
    scored = tmp_path / "scores.csv"
    done = run_example(
        "batch_scoring.py",
        "--artifacts",
        str(artifacts),
        "--chunk",
        "100",
        "--limit",
        str(limit),
        "--out",
        str(scored),
        env=env,
        cwd=tmp_path,
    )
    assert f"scored {limit} applications in 4 calls" in done.stdout
    run_example(
        "label_feeder.py",
        "--outcomes",
        str(artifacts / "outcomes.csv"),
        "--batch",
        "150",
        "--interval",
        "0",
        env=env,
        cwd=tmp_path,
    )

    reports = evaluator.evaluate()
    rows, labelled, accuracy = _totals(reports)
    assert rows == limit
    assert labelled == limit  # every scored case found its outcome (by case_id)
    scores = pd.read_csv(scored).rename(columns={"score": "probability_of_default"})
    outcomes = pd.read_csv(artifacts / "outcomes.csv")
    assert accuracy == pytest.approx(_accuracy(scores, outcomes))
    assert not any(r.drifted_features for r in reports)  # traffic like the training data
    report = reports[-1]
    assert report.reference is not None  # compared with the training profile
    assert {f.name for f in report.features} == FEATURES  # case_id is the id, not a feature
    assert sum(r.operations.calls for r in reports) == 4  # one monitored call per chunk


def test_drifted_traffic_is_found(evaluator_for, tmp_path):
    """``train.py --drift`` shifts debt_ratio and employment only: exactly those drift."""
    artifacts = tmp_path / "drifted"
    run_example(
        "train.py",
        "--out",
        str(artifacts),
        "--train-rows",
        str(TRAIN_ROWS),
        "--score-rows",
        str(SCORE_ROWS),
        "--drift",
        "0.8",
        env=base_env(None),
        cwd=tmp_path,
    )
    evaluator = evaluator_for(artifacts)
    run_example(
        "batch_scoring.py",
        "--artifacts",
        str(artifacts),
        "--chunk",
        "100",
        env=base_env(evaluator.endpoint),
        cwd=tmp_path,
    )
    reports = evaluator.evaluate()
    assert sum(r.n_rows for r in reports) == SCORE_ROWS
    assert {name for r in reports for name in r.drifted_features} == {"debt_ratio", "employment"}


def _post_batches(url: str, applications: pd.DataFrame, size: int) -> list[dict[str, object]]:
    results: list[dict[str, object]] = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for start in range(0, len(applications), size):
            part = applications.iloc[start : start + size]
            response = client.post("/score", json={"applications": part.to_dict("records")})
            assert response.status_code == 200, response.text
            results.extend(response.json()["results"])
    return results


@pytest.mark.parametrize(
    ("module", "instrument"),
    [("app", False), ("app_uninstrumented", True)],
    ids=["monitor-decorator", "opentelemetry-instrument"],
)
def test_fastapi_app_then_label_feeder(
    artifacts: Path, evaluator: Evaluator, tmp_path, module: str, instrument: bool
):
    env = base_env(evaluator.endpoint) | {"MODEL_DIR": str(artifacts)}
    if instrument:
        env |= {
            "OTEL_SERVICE_NAME": "credit-api",
            "OTEL_ML_SKLEARN_MODELS": f"Pipeline={MODEL}:1",
            "OTEL_ML_SKLEARN_ID_COLUMN": "case_id",
            "OTEL_ML_SKLEARN_REFERENCES": f"{MODEL}={artifacts / f'{MODEL}-1.profile.json'}",
        }
    applications = pd.read_csv(artifacts / "applications.csv").head(120)
    server = Server(uvicorn_command(module, instrument=instrument), env, tmp_path)
    try:
        results = _post_batches(server.url, applications, size=30)
    finally:
        # uvicorn shuts down gracefully, then re-raises the signal. After SIGTERM that
        # ends the process before exit handlers run: the decorated app flushes in its
        # lifespan shutdown; under opentelemetry-instrument the SDK flushes at exit,
        # which SIGINT (Ctrl+C: KeyboardInterrupt) lets happen. See examples/README.md.
        code = server.stop(signal.SIGINT if instrument else signal.SIGTERM)
    output = "".join(server.output)
    assert "Application shutdown complete." in output, output
    assert code in (0, 1, -signal.SIGTERM, -signal.SIGINT, 128 + signal.SIGINT), output

    assert [r["case_id"] for r in results] == applications["case_id"].tolist()
    if not instrument:  # the decorated app returns the prediction ids it learnt
        assert [r["prediction_id"] for r in results] == applications["case_id"].tolist()
    outcomes = tmp_path / "outcomes.csv"
    pd.read_csv(artifacts / "outcomes.csv").head(120).to_csv(outcomes, index=False)
    run_example(
        "label_feeder.py", "--outcomes", str(outcomes), "--interval", "0", env=env, cwd=tmp_path
    )

    reports = evaluator.evaluate()
    rows, labelled, accuracy = _totals(reports)
    assert rows == 120
    assert labelled == 120
    scores = pd.DataFrame(results)
    assert accuracy == pytest.approx(_accuracy(scores, pd.read_csv(outcomes)))
    assert {f.name for f in reports[-1].features} == FEATURES
    assert sum(r.operations.calls for r in reports) == 4  # one monitored call per request


def test_shipped_evaluator_config_with_the_cli(artifacts: Path, tmp_path):
    """``otel-ml evaluator --config examples/evaluator.yaml`` (ports moved to free ones)."""
    config = yaml.safe_load((EXAMPLES / "evaluator.yaml").read_text())
    config["receivers"]["http"]["port"] = 0
    config["receivers"]["grpc"]["enabled"] = False
    config["api"]["port"] = 0
    # Same layout as the README: the config next to an artifacts/ directory.
    (tmp_path / "examples").mkdir()
    (tmp_path / "artifacts").symlink_to(artifacts, target_is_directory=True)
    path = tmp_path / "examples" / "evaluator.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = subprocess.Popen(
        [str(BIN / "otel-ml"), "evaluator", "--config", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        urls = {}
        for line in proc.stdout:
            if line.strip() == "ready":
                break
            name, _, url = line.strip().partition(" ")
            urls[name] = url
        assert set(urls) == {"otlp_http", "api"}, proc.stderr.read() if proc.stderr else ""
        run_example(
            "batch_scoring.py",
            "--artifacts",
            str(artifacts),
            "--limit",
            "200",
            env=base_env(urls["otlp_http"]),
            cwd=tmp_path,
        )
        with urllib.request.urlopen(urls["api"] + "/healthz", timeout=10) as r:
            health = json.load(r)
        with urllib.request.urlopen(urls["api"] + "/api/models", timeout=10) as r:
            models = json.load(r)
    finally:
        proc.terminate()
        assert proc.wait(30) == 0
    assert health["points_received"] > 0
    assert not health["points_rejected"]
    assert [m["name"] for m in models["models"]] == [MODEL]


def test_examples_read_their_own_output(artifacts: Path):
    """train.py wrote what the other examples read, with the sizes asked for."""
    applications = pd.read_csv(artifacts / "applications.csv")
    outcomes = pd.read_csv(artifacts / "outcomes.csv")
    assert len(applications) == len(outcomes) == SCORE_ROWS
    assert applications["case_id"].is_unique
    assert applications["case_id"].tolist() == outcomes["case_id"].tolist()
    assert set(applications.columns) == FEATURES | {"case_id"}
    assert set(np.unique(outcomes["defaulted"])) == {0, 1}
    profile = Profile.load(artifacts / f"{MODEL}-{VERSION}.profile.json")
    assert (profile.model, profile.version) == (MODEL, VERSION)
    assert set(profile.features) == FEATURES
