"""The shipped Prometheus configuration, rules and dashboards against real data.

A real Prometheus (the Debian package) runs `collector-config/prometheus/prometheus.yml`
(scrape and rule-evaluation intervals shortened to 1 s, target files pointed at
loopback) and scrapes, while traffic flows:

- a real monitored model process (`stack_model_app.py`: `otel_ml.configure` with a
  Prometheus endpoint, `@otel_ml.monitor`, `record_outcome`), which also sends OTLP to
- a real `otel-ml evaluator` subprocess (1-minute windows), whose `/metrics` carries
  drift, data quality, accuracy, label coverage and its own health, and which sends
  its own alerts to
- a real Alertmanager running the shipped `alertmanager.yml` and templates (Slack and
  PagerDuty played by a local HTTP server, email by a real SMTP server), which is also
  the Alertmanager of the Prometheus above.

Once the evaluator has closed a window, every recording rule, every dashboard panel
query and every dashboard variable must return data, and the alert rules must see the
conditions the traffic creates (slow model, failing calls, drifted feature, the slow
model's labels turning wrong). This takes
one evaluator window (about 1 to 2 minutes).
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest
import yaml
from alertmanager_harness import Inbox, receivers, running_alertmanager
from grafana_queries import all_panel_queries, all_variable_queries, render
from stack_model_app import MODEL, SLOW_MODEL, write_reference

ROOT = Path(__file__).resolve().parents[2]
PROM_DIR = ROOT / "collector-config" / "prometheus"
PROMETHEUS = shutil.which("prometheus")
if PROMETHEUS is None:  # pragma: no cover - ./dev setup installs it
    raise RuntimeError("prometheus not found: run ./dev setup (Debian package prometheus)")

pytestmark = pytest.mark.slow


@dataclass
class _Proc:
    proc: subprocess.Popen[str]
    log: Path
    lines: queue.Queue[str] | None = None  # stdout lines ("" at the end), read by a thread

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def _start(args: list[str], log: Path, env: dict[str, str] | None = None) -> _Proc:
    out: IO[str] = log.open("w")
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=out, text=True,
                            env={**os.environ, **(env or {})}, cwd=ROOT)
    lines: queue.Queue[str] = queue.Queue()
    stdout = proc.stdout
    assert stdout is not None

    def pump() -> None:  # a thread, so a silent process cannot block the test in readline
        for line in iter(stdout.readline, ""):
            lines.put(line)
        lines.put("")

    threading.Thread(target=pump, daemon=True).start()
    return _Proc(proc, log, lines)


def _read_lines_until(p: _Proc, last: str, timeout: float) -> list[str]:
    """stdout lines up to and including one starting with ``last``."""
    assert p.lines is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = p.lines.get(timeout=left)
        except queue.Empty:
            break
        if not line:
            raise AssertionError(f"process exited early:\n{p.tail()}")
        lines.append(line.strip())
        if line.startswith(last):
            return lines
    raise AssertionError(f"no '{last}' line within {timeout}s:\n{p.tail()}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("stack")
    reference = tmp / "credit-1.profile.json"
    write_reference(reference)
    procs: list[_Proc] = []
    with receivers() as inbox, running_alertmanager(inbox, tmp / "alertmanager") as am_port:
        yield from _stack(tmp, reference, procs, inbox, am_port)


def _stack(tmp: Path, reference: Path, procs: list[_Proc], inbox: Inbox,
           am_port: int) -> Iterator[dict[str, Any]]:
    try:
        # --- the evaluator ---------------------------------------------------------
        config = {
            "state_dir": str(tmp / "evaluator-state"),
            "receivers": {"http": {"host": "127.0.0.1", "port": 0},
                          "grpc": {"host": "127.0.0.1", "port": 0, "enabled": False}},
            "api": {"host": "127.0.0.1", "port": 0},
            "windows": {"size": "1m", "grace": "2s", "min_rows": 20},
            "references": [{"model": MODEL, "version": "1", "path": str(reference)}],
            # alert on the first breaching window (default: two in a row)
            "alerts": {"defaults": {"for_windows": 1}},
            "notifiers": {"alertmanager": {"type": "alertmanager",
                                           "url": f"http://127.0.0.1:{am_port}"}},
        }
        (tmp / "evaluator.yaml").write_text(yaml.safe_dump(config))
        evaluator = _start(
            [sys.executable, "-m", "otel_ml.cli", "evaluator", "--config",
             str(tmp / "evaluator.yaml"), "--tick-interval", "0.5"],
            tmp / "evaluator.log")
        procs.append(evaluator)
        lines = _read_lines_until(evaluator, "ready", 60)
        endpoints = dict(line.split(" ", 1) for line in lines if " " in line)
        otlp_http = endpoints["otlp_http"]
        api = urllib.parse.urlsplit(endpoints["api"]).netloc

        # --- the monitored model ---------------------------------------------------
        model = _start(
            [sys.executable, str(Path(__file__).with_name("stack_model_app.py")),
             "--endpoint", otlp_http, "--reference", str(reference), "--duration", "600"],
            tmp / "model.log")
        procs.append(model)
        sdk = _read_lines_until(model, "prometheus ", 60)[-1].split(" ", 1)[1]

        # --- Prometheus with the shipped configuration -----------------------------
        prom_dir = tmp / "prometheus"
        shutil.copytree(PROM_DIR, prom_dir)
        prom_cfg = yaml.safe_load((prom_dir / "prometheus.yml").read_text())
        prom_cfg["global"].update(scrape_interval="1s", evaluation_interval="1s")
        (prom_dir / "prometheus.yml").write_text(yaml.safe_dump(prom_cfg))
        targets = {"ml-models.yml": [sdk], "otel-ml-evaluator.yml": [api],
                   "otel-collector.yml": [], "alertmanager.yml": [f"127.0.0.1:{am_port}"]}
        for name, hosts in targets.items():
            (prom_dir / "targets" / name).write_text(
                yaml.safe_dump([{"targets": hosts}] if hosts else []))
        for attempt in range(3):  # another free port if the one picked was taken in between
            port = _free_port()
            prometheus = _start(
                [str(PROMETHEUS), f"--config.file={prom_dir / 'prometheus.yml'}",
                 f"--storage.tsdb.path={tmp / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}",
                 "--web.enable-remote-write-receiver", "--enable-feature=exemplar-storage"],
                tmp / "prometheus.log")
            procs.append(prometheus)
            url = f"http://127.0.0.1:{port}"
            try:
                _wait_for(lambda u=url: _get(f"{u}/-/ready") is not None, 60, prometheus)
                break
            except AssertionError:
                prometheus.stop()
                if attempt == 2 or "address already in use" not in prometheus.tail():
                    raise
        yield {"url": url, "procs": procs, "sdk": sdk, "api": api, "inbox": inbox}
    finally:
        for p in reversed(procs):
            p.stop()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _get(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            body: bytes = resp.read()
            return body
    except OSError:
        return None


def _wait_for(cond: Any, timeout: float, proc: _Proc) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.proc.poll() is not None:
            raise AssertionError(f"exited:\n{proc.tail()}")
        if cond():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s:\n{proc.tail()}")


def _query(url: str, expr: str) -> list[dict[str, Any]]:
    body = _get(f"{url}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    assert body is not None, expr
    data = json.loads(body)
    assert data["status"] == "success", (expr, data)
    result: list[dict[str, Any]] = data["data"]["result"]
    return result


def _series(url: str, selector: str) -> list[dict[str, str]]:
    body = _get(f"{url}/api/v1/series?" + urllib.parse.urlencode({"match[]": selector}))
    assert body is not None, selector
    result: list[dict[str, str]] = json.loads(body)["data"]
    return result


def _wait_for_window(stack: dict[str, Any]) -> None:
    """Until the evaluator's first closed window is in Prometheus (about one minute)."""
    url = stack["url"]
    needed = ("ml_drift_score", "ml_performance_value", "ml_label_coverage",
              "ml_data_quality_rate", "ml_predict_duration_quantile_seconds")
    deadline = time.monotonic() + 200
    while time.monotonic() < deadline:
        for p in stack["procs"]:
            assert p.proc.poll() is None, p.tail()
        if all(_query(url, name) for name in needed):
            return
        time.sleep(2)
    missing = [n for n in needed if not _query(url, n)]
    raise AssertionError(f"no {missing} from the evaluator after 200 s:\n"
                         + "\n".join(p.tail() for p in stack["procs"]))


def _with_retry(url: str, expr: str, timeout: float = 20) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        result = _query(url, expr)
        if result or time.monotonic() > deadline:
            return result
        time.sleep(1)


def test_scrape_targets_are_up(stack: dict[str, Any]) -> None:
    url = stack["url"]
    _wait_for(lambda: len(_query(url, "up == 1")) == 2, 30, stack["procs"][-1])
    jobs = {r["metric"]["job"] for r in _query(url, "up == 1")}
    assert jobs == {"ml-models", "otel-ml-evaluator"}


def test_every_recording_rule_returns_data(stack: dict[str, Any]) -> None:
    _wait_for_window(stack)
    url = stack["url"]
    records = [r["record"] for path in sorted((PROM_DIR / "rules").glob("*.rules.yml"))
               for g in yaml.safe_load(path.read_text())["groups"] for r in g["rules"]
               if "record" in r]
    empty = [name for name in records if not _with_retry(url, name)]
    assert empty == [], f"recording rules without data: {empty}"
    # and the values mean what they say. Every 10th call of MODEL fails; in the first
    # seconds of traffic the error series has too few samples for rate() to show that
    # (it appears with the first error), so allow the ratio up to a minute to settle.
    def by_model(expr: str) -> dict[str, float]:
        return {r["metric"]["ml_model_name"]: float(r["value"][1]) for r in _query(url, expr)}

    deadline = time.monotonic() + 60
    while True:
        ratio = by_model("ml_model:ml_predict_error_ratio:rate5m")
        ok = 0.03 < ratio.get(MODEL, 0.0) < 0.2 and ratio.get(SLOW_MODEL) == 0.0
        if ok or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert ok, ratio
    p95 = by_model("ml_model:ml_predict_duration_seconds:p95_5m")
    assert p95[SLOW_MODEL] > 0.1 and p95[SLOW_MODEL] > p95[MODEL]


def test_every_dashboard_query_returns_data(stack: dict[str, Any]) -> None:
    _wait_for_window(stack)
    url = stack["url"]
    service = _query(url, 'target_info{job="ml-models"}')[0]["metric"]["service_name"]
    variables = {"service": service}
    queries = all_panel_queries()
    assert len(queries) >= 40
    empty = [q.name for q in queries if not _with_retry(url, render(q.expr, variables))]
    assert empty == [], f"dashboard queries without data: {empty}"
    for var in all_variable_queries():
        series = _series(url, render(var.selector, variables))
        values = {s.get(var.label) for s in series} - {None}
        assert values, f"{var.dashboard}: variable {var.variable} has no values"


def test_alert_rules_see_what_the_traffic_does(stack: dict[str, Any]) -> None:
    """The slow model, the failing calls and the drifted feature make the shipped alert
    rules pending (their `for:` keeps them from firing within the test); the slow
    model's labels turning wrong fires MLModelPerformanceChange (no `for:`), and the
    credit model's steady accuracy does not."""
    _wait_for_window(stack)
    url = stack["url"]
    expected = {("MLModelLatencyP95High", SLOW_MODEL), ("MLModelErrorRateHigh", MODEL),
                ("MLFeatureDriftHigh", MODEL), ("MLModelPerformanceChange", SLOW_MODEL)}
    deadline = time.monotonic() + 30
    seen: set[tuple[str, str]] = set()
    while time.monotonic() < deadline and not expected <= seen:
        seen = {(r["metric"]["alertname"], r["metric"].get("ml_model_name", ""))
                for r in _query(url, "ALERTS")}
        time.sleep(1)
    assert expected <= seen, seen
    drifted = {r["metric"]["ml_feature_name"]
               for r in _query(url, 'ALERTS{alertname="MLFeatureDriftHigh"}')}
    assert "debt_ratio" in drifted
    changed = {r["metric"]["ml_model_name"]
               for r in _query(url, 'ALERTS{alertname="MLModelPerformanceChange"}')}
    assert changed == {SLOW_MODEL}
    assert not re.search(r"age", " ".join(sorted(drifted)))  # undrifted feature stays quiet


def test_evaluator_alerts_reach_slack_through_the_shipped_alertmanager(
    stack: dict[str, Any],
) -> None:
    """The evaluator's own drift alert, routed and rendered by alertmanager.yml."""
    _wait_for_window(stack)
    inbox: Inbox = stack["inbox"]
    deadline = time.monotonic() + 60
    drift: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not drift:
        drift = [a for body in inbox.slack() for a in body["attachments"]
                 if a["title"].endswith("feature_drift · model credit")]
        time.sleep(1)
    assert drift, [a["title"] for body in inbox.slack() for a in body["attachments"]]
    text = drift[0]["text"]
    assert drift[0]["title"].startswith("[FIRING:")
    assert "Model:    credit (version 1)" in text
    assert "docs/runbooks.md#mlfeaturedrifthigh" in text
    assert re.search(r"Traces:   http://localhost:16686/trace/[0-9a-f]{32}", text), text
    # the evaluator counts the delivery
    metrics = _get(f"http://{stack['api']}/metrics")
    assert metrics is not None
    delivered = re.findall(
        r'^otel_ml_notifications_total\{[^}]*otel_ml_outcome="delivered"[^}]*\} (\S+)',
        metrics.decode(), re.M)
    assert delivered and float(delivered[0]) >= 1
