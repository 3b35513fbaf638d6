"""Reference profiles from a real MLflow tracking server: log_profile at training time, then
``models:/name@alias``, ``models:/name/N`` and ``runs:/id/path`` used by the SDK (@monitor's
out-of-range counts), an instrumentor, ``otel-ml drift`` and the evaluator (drift against
the profile; the alias moving, picked up by the poll thread); every bad URI's one-line
error; the cache serving runs, versions and a known alias while the server is down.

Two versions of one registered model: version 1 trained on ages 20-40, version 2 on ages
50-70 (each run logs the model and its profile). Data of ages 50-70 is out of range and
drifted for version 1's profile, in range and not drifted for version 2's.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
from evaluator_feed import feature_batch
from mlflow_server import CLIENT_ENV, MlflowServer, free_port
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from sklearn.linear_model import LogisticRegression

from otel_ml import ConfigurationError, ProfileError, monitor, semconv
from otel_ml.cli import main
from otel_ml.evaluator._config import parse_config
from otel_ml.evaluator._metrics_export import DerivedMetrics
from otel_ml.evaluator._references import ReferenceSet
from otel_ml.evaluator._service import EvaluatorService
from otel_ml.evaluator._store import Store
from otel_ml.evaluator._windows import Windowing
from otel_ml.instrumentation import Aggregator, ModelKey, Runtime
from otel_ml.mlflow import PROFILE_TAG, load_profile, log_profile, resolve_profile
from otel_ml.sketch import Profile
from otel_ml.stats import DriftPolicy

NAME = "credit_risk"


def _table(rng: np.random.Generator, low: float, high: float, n: int) -> pd.DataFrame:
    return pd.DataFrame({"age": rng.uniform(low, high, n), "income": rng.uniform(1, 2, n)})


@dataclass
class Registry:
    uri: str
    run1: str
    run2: str
    model: LogisticRegression
    old: pd.DataFrame  # like version 1's training data
    new: pd.DataFrame  # like version 2's


def _log_version(table: pd.DataFrame, *, profile_in_run: bool) -> tuple[str, LogisticRegression]:
    y = (table["age"] > table["age"].median()).astype(int)
    with mlflow.start_run() as run:
        model = LogisticRegression().fit(table, y)
        mlflow.sklearn.log_model(model, name="model", registered_model_name=NAME,
                                 pip_requirements=["scikit-learn"])
        if profile_in_run:  # the training run logs it: models:/NAME/1 finds otel_ml/profile.json
            log_profile(Profile.from_data(table), model_name=NAME)
    return run.info.run_id, model


@pytest.fixture(scope="module")
def registry(mlflow_server: MlflowServer) -> Iterator[Registry]:
    with pytest.MonkeyPatch.context() as mp:
        for name, value in CLIENT_ENV.items():
            mp.setenv(name, value)
        mp.setenv("MLFLOW_TRACKING_URI", mlflow_server.uri)
        rng = np.random.default_rng(12)
        run1, model = _log_version(_table(rng, 20, 40, 2000), profile_in_run=True)
        new = _table(rng, 50, 70, 2000)
        run2, _ = _log_version(new, profile_in_run=False)
        # version 2's profile logged after its registration, in another folder: the version's
        # tag points at it
        log_profile(Profile.from_data(new), model_name=NAME, model_version=2,
                    artifact_path="otel_ml/v2")
        mlflow.MlflowClient().set_registered_model_alias(NAME, "champion", "1")
        yield Registry(mlflow_server.uri, run1, run2, model, _table(rng, 20, 40, 1000),
                       _table(rng, 50, 70, 1000))


@pytest.fixture
def env(registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The client environment on the shared server, and a fresh profile cache."""
    for name, value in CLIENT_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry.uri)
    cache = tmp_path / "cache"
    monkeypatch.setenv("OTEL_ML_CACHE_DIR", str(cache))
    return cache


def _champion(version: str) -> None:
    mlflow.MlflowClient().set_registered_model_alias(NAME, "champion", version)


# ---- log_profile and the three URI forms ------------------------------------------------
def test_log_profile_records_the_model_and_the_uris_resolve(registry: Registry, env: Path):
    one = resolve_profile(f"models:/{NAME}/1")
    assert (one.run_id, one.artifact_path, one.version) == (registry.run1, "otel_ml/profile.json",
                                                            "1")
    assert not one.cached and one.path.is_relative_to(env)
    profile = one.load()
    assert (profile.model, profile.version) == (NAME, "1")  # the version filled in from the URI
    assert profile.features["age"].max < 40

    two = resolve_profile(f"models:/{NAME}/2")
    assert (two.run_id, two.artifact_path) == (registry.run2, "otel_ml/v2/profile.json")
    assert mlflow.MlflowClient().get_model_version(NAME, "2").tags[PROFILE_TAG] == (
        f"runs:/{registry.run2}/otel_ml/v2/profile.json"
    )
    stored = Profile.load(two.path)  # log_profile wrote the name and version into the file
    assert (stored.model, stored.version) == (NAME, "2")

    _champion("1")
    assert resolve_profile(f"models:/{NAME}@champion").key == one.key
    assert load_profile(f"runs:/{registry.run1}/otel_ml").to_dict()["features"] == (
        profile.to_dict()["features"]
    )
    assert resolve_profile(f"runs:/{registry.run1}/otel_ml/profile.json").cached  # same file
    assert resolve_profile(f"models:/{NAME}/1").cached  # a version never moves: no request
    # the same artifact path in another run is another cache entry (the run is in the key)
    assert log_profile(Profile.from_data(registry.new), run_id=registry.run2) == (
        f"runs:/{registry.run2}/otel_ml/profile.json")
    other = resolve_profile(f"runs:/{registry.run2}/otel_ml")
    assert not other.cached and other.load().features["age"].min >= 50


def test_monitor_counts_out_of_range_against_the_mlflow_profile(registry: Registry, env: Path):
    _champion("1")
    counts = {}
    for uri in (f"models:/{NAME}@champion", f"models:/{NAME}/2"):
        aggregator, runtime = Aggregator(), Runtime()
        consumer = aggregator.register()

        @monitor(NAME, reference=uri, aggregator=aggregator, runtime=runtime,
                 tracer_provider=TracerProvider(), logger_provider=LoggerProvider())
        def predict(rows: pd.DataFrame) -> np.ndarray:
            return registry.model.predict(rows)

        predict(registry.new.iloc[:40])  # ages 50-70
        runtime.flush()
        window = consumer.collect().windows[ModelKey(NAME, semconv.UNKNOWN_VERSION)]
        counts[uri] = window.quality.get(("age", semconv.QUALITY_OUT_OF_RANGE), 0)
        runtime.close()
    assert counts == {f"models:/{NAME}@champion": 40, f"models:/{NAME}/2": 0}


def test_an_instrumentor_takes_a_uri_reference(registry: Registry, env: Path):
    from otel_ml.instrumentation._sklearn_config import MonitorOptions, with_loaded_reference

    opts = with_loaded_reference(MonitorOptions(model=NAME, reference=f"models:/{NAME}/2"),
                                 "references")
    assert isinstance(opts.reference, Profile) and opts.reference.version == "2"


def test_otel_ml_drift_reads_a_models_uri(registry: Registry, env: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]):
    current = tmp_path / "current.csv"
    registry.new.to_csv(current, index=False)
    assert main(["drift", f"models:/{NAME}/1", str(current)]) == 1  # drift
    assert main(["drift", f"models:/{NAME}/2", str(current)]) == 0
    assert main(["drift", f"models:/{NAME}/9", str(current)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"otel-ml drift: error: models:/{NAME}/9: registered model")


# ---- one-line errors --------------------------------------------------------------------
def test_each_bad_uri_has_a_one_line_error_naming_the_problem(registry: Registry, env: Path):
    down = f"http://127.0.0.1:{free_port()}"
    cases = [
        (f"models:/{NAME}", {}, "malformed MLflow URI: no version or alias"),
        ("models:/credit_risk/three", {}, "malformed MLflow URI: bad version 'three'"),
        ("runs:/abc", {}, "malformed MLflow URI: no artifact path"),
        ("models:/no_such_model/1", {}, "no registered model 'no_such_model'"),
        (f"models:/{NAME}/99", {}, f"registered model '{NAME}' has no version 99"),
        (f"models:/{NAME}@nope", {}, f"registered model '{NAME}' has no alias 'nope'"),
        (f"runs:/{registry.run1}/elsewhere", {},
         f"run {registry.run1} has no profile artifact 'elsewhere/profile.json'"),
        ("runs:/0123456789abcdef0123456789abcdef/otel_ml", {},
         f"no run 0123456789abcdef0123456789abcdef on {registry.uri}"),
        (f"models:/{NAME}/1", {"tracking_uri": down}, f"MLflow tracking server {down} "
         "unreachable"),
    ]
    for uri, kwargs, expected in cases:
        with pytest.raises(ProfileError) as info:
            resolve_profile(uri, **kwargs)
        message = str(info.value)
        assert message.startswith(f"{uri}: ") and expected in message, message
        assert "\n" not in message and "; " in message  # one line, with the fix after "; "
    started = time.monotonic()
    with pytest.raises(ProfileError, match="unreachable"):
        resolve_profile(f"models:/{NAME}@champion", tracking_uri=down)
    assert time.monotonic() - started < 10  # not the client's minutes of retries
    with pytest.raises(ProfileError, match="has no version 99"):
        monitor(NAME, reference=f"models:/{NAME}/99")
    with pytest.raises(ConfigurationError, match=r"references\[0\]\.path: models:/x: malformed"):
        parse_config({"references": [{"model": "x", "path": "models:/x"}]})
    cfg = parse_config({"references": [{"model": NAME, "path": f"models:/{NAME}@nope"}]})
    with pytest.raises(ConfigurationError, match=r"references\[0\]\.path: .* no alias 'nope'"):
        ReferenceSet(cfg.references)
    profile = Profile.from_data(registry.old)
    with pytest.raises(ConfigurationError, match="^run_id: no run to store the profile in"):
        log_profile(profile)  # no active run, no run_id, no model version
    with pytest.raises(ConfigurationError, match="^model_version: given without model_name"):
        log_profile(profile, model_version=1)
    with pytest.raises(ConfigurationError, match="^model_version: version 99 of registered"):
        log_profile(profile, model_name=NAME, model_version=99)


# ---- the evaluator ----------------------------------------------------------------------
class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _service(tmp_path: Path, references: ReferenceSet,
             reader: InMemoryMetricReader | None = None) -> EvaluatorService:
    cfg = parse_config({"windows": {"size": "1m", "grace": "5s", "min_rows": 100}})
    metrics = DerivedMetrics(readers=[reader] if reader is not None else [])
    service = EvaluatorService(
        cfg,
        store=Store(tmp_path / "s.db", Windowing(60.0, 5.0)),
        references=references,
        policy=DriftPolicy(),
        metrics=metrics,
        clock=Clock(1000.0),
    )
    metrics.watch_health(service.health)
    return service


def test_the_evaluator_evaluates_drift_against_the_alias_and_follows_it(
    registry: Registry, env: Path, tmp_path: Path
):
    _champion("1")
    cfg = parse_config({"references": [
        {"model": NAME, "path": f"models:/{NAME}@champion", "poll_interval": "1s"}]})
    refs = ReferenceSet(cfg.references, cache_dir=env)
    svc = _service(tmp_path, refs)
    svc.start_writer()
    try:
        ages = registry.new["age"].to_numpy()
        assert svc.submit(feature_batch(NAME, "7", "age", ages, 1210)).accepted
        [report] = svc.tick(now=1265.0)
        assert report.drifted_features == ("age",)  # ages 50-70 against version 1's profile
        assert "version 1" in refs.get(NAME, "7").label  # type: ignore[union-attr]

        _champion("2")
        assert refs.poll(force=True) == 1
        assert refs.poll(force=True) == 0  # no move, nothing to swap
        assert svc.submit(feature_batch(NAME, "7", "age", ages, 1270)).accepted
        [report] = svc.tick(now=1325.0)
        assert report.drifted_features == ()  # the same data against version 2's profile
        # traffic of version 1 keeps version 1's profile; the others get the champion's
        assert "version 1" in refs.get(NAME, "1").label  # type: ignore[union-attr]
        assert "version 2" in refs.get(NAME, None).label  # type: ignore[union-attr]
        assert refs.poll_failures == 0
    finally:
        svc.stop()
        _champion("1")


def test_an_alias_keeps_the_profiles_of_its_last_versions_only(registry: Registry, env: Path):
    """Memory bounded: the versions an alias named keep their profiles up to
    max_alias_versions; beyond, the oldest version's traffic gets the current champion's."""
    _champion("1")
    cfg = parse_config({"references": [{"model": NAME, "path": f"models:/{NAME}@champion"}]})
    refs = ReferenceSet(cfg.references, cache_dir=env)
    refs.max_alias_versions = 2
    try:
        _champion("2")
        assert refs.poll(force=True) == 1
        assert "version 1" in refs.get(NAME, "1").label  # type: ignore[union-attr]
        refs.max_alias_versions = 1
        _champion("1")
        assert refs.poll(force=True) == 1  # back to 1: version 2 is the one forgotten
        assert "version 1" in refs.get(NAME, "2").label  # type: ignore[union-attr]
        assert "version 1" in refs.get(NAME, "1").label  # type: ignore[union-attr]
    finally:
        _champion("1")


def test_the_running_evaluator_picks_up_a_moved_alias(registry: Registry, env: Path,
                                                      tmp_path: Path):
    from otel_ml.evaluator import EvaluatorApp

    _champion("1")
    cfg = parse_config({
        "state_dir": str(tmp_path / "state"),
        "receivers": {"http": {"enabled": False}, "grpc": {"enabled": False}},
        "api": {"enabled": False},
        "references": [{"model": NAME, "path": f"models:/{NAME}@champion",
                        "poll_interval": "1s"}],
    })
    app = EvaluatorApp.from_config(cfg)
    app.start(tick_interval=0.5)
    try:
        refs = app.service.references
        assert "version 1" in refs.get(NAME, None).label  # type: ignore[union-attr]
        _champion("2")
        deadline = time.monotonic() + 60
        while "version 2" not in refs.get(NAME, None).label:  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the alias move was not picked up"
            time.sleep(0.2)
        assert app.store.get_meta(f"reference:{NAME}@").startswith(  # type: ignore[union-attr]
            f"models:/{NAME}@champion sha256=")
    finally:
        app.stop()
        _champion("1")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


# ---- the cache while the server is down (last: it restarts the shared server) ------------
def test_the_cache_serves_while_the_server_is_down(
    registry: Registry, env: Path, mlflow_server: MlflowServer, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
):
    _champion("1")
    uris = [f"runs:/{registry.run2}/otel_ml/v2", f"models:/{NAME}/2", f"models:/{NAME}@champion"]
    before = [resolve_profile(u).key for u in uris]
    refs = ReferenceSet(
        parse_config({"references": [{"model": NAME, "path": uris[2]}]}).references,
        cache_dir=env)
    in_use = refs.get(NAME, None)
    port, pgid = mlflow_server.port, mlflow_server._proc.pid  # type: ignore[union-attr]
    mlflow_server.kill()  # the test server's own kill: the whole process group, at once
    assert not _group_alive(pgid) and not mlflow_server.healthy()
    try:
        hits = [resolve_profile(u) for u in uris]
        assert [h.key for h in hits] == before
        assert all(h.cached for h in hits) and [h.stale for h in hits] == [False, False, True]
        # the SDK starts with the alias's last known profile
        predict = monitor(NAME, reference=uris[2], tracer_provider=TracerProvider(),
                          logger_provider=LoggerProvider())(lambda rows: rows)
        assert predict.monitor.options.reference.version == "1"  # type: ignore[attr-defined]
        # the evaluator keeps its profile; failed polls are counted, logged once
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="otel_ml.evaluator._references"):
            assert refs.poll(force=True) == 0 and refs.poll(force=True) == 0
        assert refs.poll_failures == 2
        reader = InMemoryMetricReader()
        svc = _service(tmp_path, refs, reader)
        data = reader.get_metrics_data()
        assert data is not None
        assert [p.value for rm in data.resource_metrics for sm in rm.scope_metrics
                for m in sm.metrics if m.name == semconv.METRIC_EVAL_REFERENCE_POLL_FAILURES
                for p in m.data.data_points] == [2]
        svc.stop()
        assert len([r for r in caplog.records if "not checked" in r.getMessage()]) == 1
        assert refs.get(NAME, None) is in_use
        assert not [r for r in caplog.records if r.name == "otel_ml.mlflow._resolve"]
        # a URI never resolved before has nothing to fall back on
        with pytest.raises(ProfileError, match="unreachable"):
            resolve_profile(f"runs:/{registry.run1}/never/fetched.json")
    finally:
        mlflow_server.start()
    # back on the same port with the same store
    assert mlflow_server.port == port
    assert mlflow.MlflowClient().get_model_version_by_alias(NAME, "champion").version == "1"


def test_only_aliases_are_polled_and_a_warm_cache_needs_no_server(tmp_path: Path):
    """Without any server: profiles placed where the cache keeps them resolve, and only the
    alias is something for the poll thread to ask about (a run path with '@' is not)."""
    from otel_ml.evaluator._config_options import ReferenceSpec
    from otel_ml.mlflow._resolve import _server_key

    down = f"http://127.0.0.1:{free_port()}"
    server = tmp_path / "mlflow" / _server_key(down)
    target = server / "runs" / "r1" / "at@home" / "profile.json"
    target.parent.mkdir(parents=True)
    Profile.from_data({"x": np.arange(10.0)}).save(target)
    run_only = ReferenceSet([ReferenceSpec("m", uri="runs:/r1/at@home", tracking_uri=down)],
                            cache_dir=tmp_path)
    assert not run_only.polls_aliases
    assert run_only.get("m", "1") is not None
    index = server / "models" / "m" / "@champion.json"
    index.parent.mkdir(parents=True)
    index.write_text('{"run_id": "r1", "artifact_path": "at@home/profile.json", "version": "4"}')
    alias = ReferenceSet([ReferenceSpec("m", uri="models:/m@champion", tracking_uri=down)],
                         cache_dir=tmp_path)
    assert alias.polls_aliases
    assert "version 4" in alias.get("m", None).label  # type: ignore[union-attr]
    assert alias.poll(force=True) == 0 and alias.poll_failures == 1


def test_credentials_in_the_tracking_uri_are_never_shown(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    """A tracking URI may carry a password (``https://user:password@host``, which MLflow
    sends as basic auth): it is in no error message, no log line and no cache folder name,
    and the cache is the one of the same server without credentials."""
    from otel_ml.evaluator._config_options import ReferenceSpec
    from otel_ml.mlflow._resolve import _server_key

    port = free_port()
    plain, secret = f"http://127.0.0.1:{port}", f"http://alice:s3cret@127.0.0.1:{port}"
    assert _server_key(secret) == _server_key(plain)
    with pytest.raises(ProfileError) as info:
        resolve_profile("models:/m/1", tracking_uri=secret, cache_dir=tmp_path)
    assert f"MLflow tracking server http://***@127.0.0.1:{port} unreachable" in str(info.value)
    # a known alias, the server down: the warning names the server without the password
    index = tmp_path / "mlflow" / _server_key(secret) / "models" / "m" / "@champion.json"
    index.parent.mkdir(parents=True)
    index.write_text('{"run_id": "r1", "artifact_path": "otel_ml/profile.json", "version": "4"}')
    target = tmp_path / "mlflow" / _server_key(plain) / "runs" / "r1" / "otel_ml" / "profile.json"
    target.parent.mkdir(parents=True)
    Profile.from_data({"x": np.arange(10.0)}).save(target)
    with caplog.at_level(logging.INFO):
        assert resolve_profile("models:/m@champion", tracking_uri=secret,
                               cache_dir=tmp_path).stale
        refs = ReferenceSet([ReferenceSpec("m", uri="models:/m@champion", tracking_uri=secret)],
                            cache_dir=tmp_path)
        assert refs.poll(force=True) == 0 and refs.poll_failures == 1
    assert [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert not [r for r in caplog.records if "s3cret" in r.getMessage()]
    assert not [p for p in tmp_path.rglob("*") if "s3cret" in p.name or "alice" in p.name]


@pytest.mark.parametrize(("uri", "parsed"), [
    ("models:/credit_risk/3", {"model": "credit_risk", "version": "3"}),
    ("models:/team/credit risk/12", None),  # a name with '/' has no room for a version
    ("models:/credit_risk@champion", {"model": "credit_risk", "alias": "champion"}),
    ("models:/credit.risk-v2@prod_2", {"model": "credit.risk-v2", "alias": "prod_2"}),
    ("runs:/0a1b/otel_ml", {"run_id": "0a1b", "artifact_path": "otel_ml/profile.json"}),
    ("runs:/0a1b/otel_ml/", {"run_id": "0a1b", "artifact_path": "otel_ml/profile.json"}),
    ("runs:/0a1b/ref/v2.json", {"run_id": "0a1b", "artifact_path": "ref/v2.json"}),
])
def test_uri_forms_are_parsed(uri: str, parsed: dict[str, str] | None):
    from otel_ml.mlflow import parse_uri

    if parsed is None:
        with pytest.raises(ProfileError, match="a model URI has no artifact path"):
            parse_uri(uri)
        return
    got = parse_uri(uri)
    fields = ("model", "version", "alias", "run_id", "artifact_path")
    assert {k: getattr(got, k) for k in fields if getattr(got, k) is not None} == parsed
    assert got.movable == ("alias" in parsed)


@pytest.mark.parametrize(("uri", "problem"), [
    ("models:credit/1", "models: is followed by one slash and the model name"),
    ("models://credit/1", "models: is followed by one slash and the model name"),
    ("models:/credit", "no version or alias"),
    ("models:/credit/0", "bad version '0' (a version number, or @alias)"),
    ("models:/credit/latest", "bad version 'latest' (a version number, or @alias)"),
    ("models:/@champion", "no model name before '@'"),
    ("models:/credit@", "bad alias ''"),
    ("models:/credit@champion/x", "bad alias 'champion/x'"),
    ("runs:abc/x", "runs: is followed by one slash and the run id"),
    ("runs:/a.b/x", "bad run id 'a.b'"),
    ("runs:/abc", "no artifact path after the run id"),
    ("runs:/abc//", "no artifact path after the run id"),
    ("runs:/abc/../../etc", "'..' in the artifact path (a path inside the run)"),
])
def test_each_malformed_uri_names_its_problem_and_the_forms(uri: str, problem: str):
    """Without a server: every branch of the parser, one line with the accepted forms."""
    from otel_ml.mlflow import parse_uri

    with pytest.raises(ProfileError) as info:
        parse_uri(uri)
    assert str(info.value) == (
        f"{uri}: malformed MLflow URI: {problem}; write models:/<name>/<version>, "
        "models:/<name>@<alias> or runs:/<run_id>/<path>")
