"""docker-compose.yml: valid against the Compose Specification's JSON schema (vendored
next to this file), images pinned, and wired to the files and host names it relies on.

No Docker engine runs here, so nothing is started: the checks are the schema, the files
each service mounts or builds from, and that every host name the configurations use
(Collector exporters, Prometheus targets, Grafana data sources, the evaluator's listeners)
is a service of this file on the right port.
"""

from __future__ import annotations

import copy
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import numpy as np
import yaml

from otel_ml.evaluator._config import parse_config
from otel_ml.sketch import Profile

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
SCHEMA = Path(__file__).with_name("compose-spec.json")
CONFIG = ROOT / "collector-config"

REQUIRED_SERVICES = {"otel-collector", "jaeger", "prometheus", "grafana", "alertmanager",
                     "evaluator", "model-service"}


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def _errors(doc: dict[str, Any]) -> list[str]:
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(doc)]


def test_schema_is_the_vendored_compose_spec() -> None:
    schema = json.loads(SCHEMA.read_text())
    assert schema["title"] == "Compose Specification"
    assert "b2835e8acc1e42e7aecbc27a9bc4a1fc66ef21ba" in SCHEMA.with_name(
        "compose-spec.NOTICE.md").read_text()


def test_compose_file_is_valid_against_the_schema() -> None:
    assert _errors(_compose()) == []


def test_the_schema_check_rejects_mistakes() -> None:
    doc = copy.deepcopy(_compose())
    doc["services"]["prometheus"]["volume"] = doc["services"]["prometheus"].pop("volumes")
    doc["services"]["grafana"]["depends_on"] = {"prometheus": {"condition": "when_ready"}}
    doc["services"]["evaluator"]["ports"] = "8080:8080"
    errors = "\n".join(_errors(doc))
    assert "services/prometheus" in errors and "'volume'" in errors
    assert "services/grafana/depends_on" in errors
    assert "services/evaluator/ports" in errors


def test_required_services_and_pinned_images() -> None:
    services = _compose()["services"]
    assert REQUIRED_SERVICES <= set(services)
    for name, svc in services.items():
        if "build" in svc:
            build = svc["build"]
            dockerfile = ROOT / build["context"] / build["dockerfile"]
            assert dockerfile.is_file(), name
            assert dockerfile.parent == ROOT / "deploy", name
            continue
        image = svc["image"]
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest" and re.search(r"\d", tag), (name, image)


def test_dockerfiles_pin_their_base_and_copy_what_exists() -> None:
    for dockerfile in (ROOT / "deploy").glob("*.Dockerfile"):
        text = dockerfile.read_text()
        base = re.search(r"^FROM (\S+)", text, re.M)
        assert base and re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", base.group(1)), dockerfile
        for src in re.findall(r"^COPY (.+) \S+$", text, re.M):
            for path in src.split():
                assert (ROOT / path).exists(), f"{dockerfile.name}: COPY {path}"


def test_model_service_runs_the_fastapi_example() -> None:
    text = (ROOT / "deploy" / "model-service.Dockerfile").read_text()
    cmd = json.loads(re.search(r"^CMD (.+)$", text, re.M).group(1))  # type: ignore[union-attr]
    assert cmd[:2] == ["uvicorn", "app:app"]
    app_dir = cmd[cmd.index("--app-dir") + 1]
    assert app_dir == "examples/fastapi_app"
    env = _compose()["services"]["model-service"]["environment"]
    assert env["MODEL_DIR"] == "/artifacts"
    source = (ROOT / app_dir / "app.py").read_text()
    assert 'os.environ.get("MODEL_DIR"' in source and "otel_ml.configure(" in source


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the service exited"
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{url} not up after {timeout}s")


def test_model_service_and_traffic_run_as_composed(tmp_path: Path) -> None:
    """The `train`, `model-service` and `traffic` services without Docker: the same
    commands and environment (hosts and ports moved to loopback), against a local OTLP
    sink; the app's otel_ml Prometheus endpoint must show the scored traffic."""
    services = _compose()["services"]
    artifacts = tmp_path / "artifacts"
    train = services["train"]["command"]
    assert train[:2] == ["python", "examples/train.py"]
    args = [a if a != "/artifacts" else str(artifacts) for a in train[2:]]
    args[args.index("--score-rows") + 1] = "200"  # a short round
    subprocess.run([sys.executable, train[1], *args, "--train-rows", "2000"], cwd=ROOT,
                   check=True, capture_output=True, timeout=300)

    otlp: list[str] = []

    class Sink(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            otlp.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    sink = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    env = {k: str(v) for k, v in services["model-service"]["environment"].items()}
    prom_port, api_port = _free_port(), _free_port()
    env.update(MODEL_DIR=str(artifacts), OTEL_EXPORTER_PROMETHEUS_HOST="127.0.0.1",
               OTEL_EXPORTER_PROMETHEUS_PORT=str(prom_port),
               OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{sink.server_address[1]}")
    cmd = json.loads(re.search(r"^CMD (.+)$", (ROOT / "deploy" / "model-service.Dockerfile")
                               .read_text(), re.M).group(1))  # type: ignore[union-attr]
    cmd[cmd.index("--host") + 1] = "127.0.0.1"
    cmd[cmd.index("--port") + 1] = str(api_port)
    app = subprocess.Popen([sys.executable, "-m", *cmd], cwd=ROOT, env={**os.environ, **env},
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_http(f"http://127.0.0.1:{api_port}/healthz", app)
        traffic = services["traffic"]["command"]
        targs = traffic[2:]
        targs[targs.index("--url") + 1] = f"http://127.0.0.1:{api_port}/score"
        targs[targs.index("--applications") + 1] = str(artifacts / "applications.csv")
        targs[targs.index("--interval") + 1] = "0"
        result = subprocess.run([sys.executable, str(ROOT / "deploy" / "traffic.py"), *targs,
                                 "--rounds", "1"], capture_output=True, text=True, timeout=120)
        assert "round 0: 10 requests ok, 0 failed" in result.stderr, result.stderr
        with urllib.request.urlopen(f"http://127.0.0.1:{prom_port}/metrics", timeout=10) as r:
            exposition = r.read().decode()
    finally:
        app.terminate()
        app.wait(timeout=30)
        sink.shutdown()
        sink.server_close()
    calls = re.search(r'^ml_predict_calls_total\{[^}]*ml_model_name="credit_risk"[^}]*\} (\S+)',
                      exposition, re.M)
    assert calls and float(calls.group(1)) == 10.0
    assert "ml_feature_values_bucket{" in exposition
    assert 'ml_feature_name="debt_ratio"' in exposition
    # OTLP went out too (flushed at shutdown): what the Collector would forward
    assert {"/v1/traces", "/v1/metrics", "/v1/logs"} <= set(otlp)


def test_bind_mounts_and_secret_files_exist() -> None:
    doc = _compose()
    for name, svc in doc["services"].items():
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name}: {source}"
            else:
                assert source in doc["volumes"], f"{name}: undeclared volume {source}"
        for secret in svc.get("secrets", []):
            assert (ROOT / doc["secrets"][secret]["file"]).is_file(), secret


def _mount_target(service: dict[str, Any], host_path: str) -> str:
    for volume in service.get("volumes", []):
        parts = volume.split(":")
        if parts[0] == host_path:
            return parts[1]
    raise AssertionError(f"{host_path} is not mounted")


def _host_port(endpoint: str) -> tuple[str, int]:
    endpoint = re.sub(r"\$\{env:[A-Z_]+:-([^}]*)\}", r"\1", endpoint)
    if "://" not in endpoint:
        endpoint = "tcp://" + endpoint
    parts = urlsplit(endpoint)
    assert parts.hostname and parts.port, endpoint
    return parts.hostname, parts.port


def test_host_names_are_services_on_the_right_ports() -> None:
    doc = _compose()
    services = doc["services"]
    collector = yaml.safe_load((CONFIG / "otelcol" / "otelcol.yaml").read_text())
    env = services["otel-collector"]["environment"]
    evaluator_cfg = yaml.safe_load((ROOT / "deploy" / "evaluator.yaml").read_text())
    otlp_http = ("evaluator", evaluator_cfg["receivers"]["http"]["port"])
    expected = {
        # what each configuration dials -> (service, port it listens on)
        collector["exporters"]["otlp_http/evaluator"]["endpoint"]: otlp_http,
        env["OTEL_ML_EVALUATOR_ENDPOINT"]: otlp_http,
        collector["exporters"]["otlp_grpc/jaeger"]["endpoint"]: ("jaeger", 4317),
        collector["exporters"]["prometheus_remote_write"]["endpoint"]: ("prometheus", 9090),
        collector["exporters"]["otlp_http/logs"]["endpoint"]: ("loki", 3100),
    }
    model_env = services["model-service"]["environment"]
    expected[model_env["OTEL_EXPORTER_OTLP_ENDPOINT"]] = ("otel-collector", 4318)
    targets_dir = CONFIG / "prometheus" / "targets"
    for path in targets_dir.glob("*.yml"):
        for group in yaml.safe_load(path.read_text()):
            for target in group["targets"]:
                host = target.split(":")[0]
                port = {"model-service": int(model_env["OTEL_EXPORTER_PROMETHEUS_PORT"]),
                        "evaluator": evaluator_cfg["api"]["port"],
                        "otel-collector": 8888, "alertmanager": 9093}[host]
                expected[target] = (host, port)
    sources = yaml.safe_load(
        (CONFIG / "grafana" / "provisioning" / "datasources" / "otel-ml.yml").read_text())
    ports = {"prometheus": 9090, "jaeger": 16686, "loki": 3100}
    for ds in sources["datasources"]:
        expected[ds["url"]] = (urlsplit(ds["url"]).hostname or "", ports[ds["uid"]])
    for endpoint, (service, port) in expected.items():
        assert service in services, f"{endpoint}: no service {service!r}"
        assert _host_port(endpoint) == (service, port), endpoint
    # the evaluator listens on all interfaces inside its container
    for listener in ("http", "grpc"):
        assert evaluator_cfg["receivers"][listener]["host"] == "0.0.0.0"
    assert evaluator_cfg["api"]["host"] == "0.0.0.0"
    assert model_env["OTEL_EXPORTER_PROMETHEUS_HOST"] == "0.0.0.0"
    assert "prometheus" in model_env["OTEL_METRICS_EXPORTER"].split(",")


def test_mounted_config_paths_match_what_the_services_read() -> None:
    services = _compose()["services"]
    prom = services["prometheus"]
    assert _mount_target(prom, "./collector-config/prometheus") == "/etc/prometheus"
    assert "--config.file=/etc/prometheus/prometheus.yml" in prom["command"]
    assert "--web.enable-remote-write-receiver" in prom["command"]
    am = services["alertmanager"]
    am_cfg = yaml.safe_load((CONFIG / "alertmanager" / "alertmanager.yml").read_text())
    secret_paths = {f"/run/secrets/{s}" for s in am["secrets"]}
    used = set(re.findall(r"/run/secrets/\w+", json.dumps(am_cfg)))
    assert used and used <= secret_paths
    grafana = services["grafana"]
    provider = yaml.safe_load(
        (CONFIG / "grafana" / "provisioning" / "dashboards" / "otel-ml.yml").read_text())
    target = _mount_target(grafana, "./collector-config/grafana/dashboards")
    assert provider["providers"][0]["options"]["path"] == target
    evaluator = services["evaluator"]
    cfg_target = _mount_target(evaluator, "./deploy/evaluator.yaml")
    assert evaluator["command"] == ["--config", cfg_target]
    collector = services["otel-collector"]
    otelcol_target = _mount_target(collector, "./collector-config/otelcol/otelcol.yaml")
    assert collector["command"] == [f"--config={otelcol_target}"]


def test_evaluator_config_parses_and_reads_the_artifacts_volume(tmp_path: Path) -> None:
    raw = yaml.safe_load((ROOT / "deploy" / "evaluator.yaml").read_text())
    evaluator = _compose()["services"]["evaluator"]
    mounts = {v.split(":")[1] for v in evaluator["volumes"]}
    for ref in raw["references"]:
        assert any(ref["path"].startswith(m + "/") for m in mounts), ref["path"]
        local = tmp_path / Path(ref["path"]).name
        Profile.from_data({"x": np.arange(10.0)}, model=ref["model"]).save(local)
        ref["path"] = str(local)
    assert raw["state_dir"] in mounts
    config = parse_config(raw)
    assert config.receivers.http.port == 4318 and config.api.port == 8080


def test_traffic_script_posts_the_applications(tmp_path: Path) -> None:
    """deploy/traffic.py (the compose `traffic` service) against a local HTTP server."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    csv_path = tmp_path / "applications.csv"
    csv_path.write_text("case_id,age,income,debt_ratio,credit_lines,employment,region\n"
                        + "".join(f"a-{i},40.0,50000.5,0.3,4,salaried,north\n" for i in range(5)))
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = subprocess.run(
            [sys.executable, str(ROOT / "deploy" / "traffic.py"),
             "--url", f"http://127.0.0.1:{server.server_address[1]}/score",
             "--applications", str(csv_path), "--batch", "2", "--interval", "0", "--rounds", "2"],
            capture_output=True, text=True, timeout=60)
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 0, result.stderr
    assert "round 1: 3 requests ok, 0 failed" in result.stderr
    ids = [a["case_id"] for body in received for a in body["applications"]]
    assert ids == [f"a-{i}" for i in range(5)] + [f"a-{i}-r1" for i in range(5)]
    first = received[0]["applications"][0]
    assert first["credit_lines"] == 4 and first["income"] == 50000.5
