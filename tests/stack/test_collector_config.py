"""The Collector configurations in collector-config/otelcol/ are complete and wired.

No Collector binary can run here, so this checks what the Collector would check at
start-up (every component a pipeline names is defined, every pipeline has receivers and
exporters, connectors join a pipeline of the type they accept to one of the type they
emit), plus what otel_ml needs from the wiring: which signal reaches the evaluator, Jaeger,
Prometheus and the logs backend.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
OTELCOL = ROOT / "collector-config" / "otelcol"
MAIN = OTELCOL / "otelcol.yaml"
LOAD_BALANCING = OTELCOL / "otelcol-load-balancing.yaml"

SIGNALS = ("traces", "metrics", "logs")
# Component type -> signals it handles (as receiver/processor/exporter). Only the types
# these files use; an unknown type fails the test so the table is kept honest.
SUPPORTED: dict[str, frozenset[str]] = {
    "otlp": frozenset(SIGNALS),  # the receiver keeps its name
    "otlp_grpc": frozenset(SIGNALS),
    "otlp_http": frozenset(SIGNALS),
    "load_balancing": frozenset(SIGNALS),
    "memory_limiter": frozenset(SIGNALS),
    "batch": frozenset(SIGNALS),
    "filter": frozenset(SIGNALS),
    "delta_to_cumulative": frozenset({"metrics"}),
    "prometheus_remote_write": frozenset({"metrics"}),
}
# Connector type -> (signal it consumes as an exporter, signal it emits as a receiver).
CONNECTORS: dict[str, tuple[str, str]] = {"span_metrics": ("traces", "metrics")}
# Pre-2026 names: they still load but warn; the shipped files must not use them.
DEPRECATED = {
    "otlphttp": "otlp_http",
    "loadbalancing": "load_balancing",
    "prometheusremotewrite": "prometheus_remote_write",
    "spanmetrics": "span_metrics",
    "deltatocumulative": "delta_to_cumulative",
}
ENV_REF = re.compile(r"\$\{([^}]*)\}")
ENV_OK = re.compile(r"^env:[A-Z][A-Z0-9_]*(:-[^}]*)?$")


def _type(component_id: str) -> str:
    return component_id.split("/", 1)[0]


def _load(path: Path) -> dict[str, Any]:
    text = path.read_text()
    for ref in ENV_REF.findall(text):
        assert ENV_OK.match(ref), f"{path.name}: malformed variable reference ${{{ref}}}"
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def wiring_problems(cfg: dict[str, Any]) -> list[str]:
    """Everything the Collector would refuse at start-up, as readable messages."""
    problems: list[str] = []
    defined = {
        kind: set((cfg.get(kind) or {}).keys())
        for kind in ("receivers", "processors", "exporters", "connectors", "extensions")
    }
    service = cfg.get("service") or {}
    pipelines: dict[str, dict[str, list[str]]] = service.get("pipelines") or {}
    if not pipelines:
        problems.append("no pipelines")
    for ext in service.get("extensions", []):
        if ext not in defined["extensions"]:
            problems.append(f"service.extensions: {ext!r} is not defined")
    used: dict[str, set[str]] = {k: set() for k in defined}
    connector_in: dict[str, set[str]] = {}
    connector_out: dict[str, set[str]] = {}
    for name, pipe in pipelines.items():
        signal = _type(name)
        if signal not in SIGNALS:
            problems.append(f"pipeline {name!r}: unknown signal {signal!r}")
            continue
        for role in ("receivers", "exporters"):
            if not pipe.get(role):
                problems.append(f"pipeline {name!r} has no {role}")
        for role, kind in (("receivers", "receivers"), ("processors", "processors"),
                           ("exporters", "exporters")):
            for cid in pipe.get(role) or []:
                ctype = _type(cid)
                if ctype in DEPRECATED:
                    problems.append(f"{name}: {cid!r} uses a deprecated name; "
                                    f"use {DEPRECATED[ctype]!r}")
                if ctype == "otlp" and kind == "exporters":
                    problems.append(f"{name}: exporter 'otlp' is deprecated; use 'otlp_grpc'")
                if role != "processors" and cid in defined["connectors"]:
                    used["connectors"].add(cid)
                    table = connector_in if role == "exporters" else connector_out
                    table.setdefault(cid, set()).add(signal)
                    continue
                if cid not in defined[kind]:
                    problems.append(f"pipeline {name!r}: {role[:-1]} {cid!r} is not defined")
                    continue
                used[kind].add(cid)
                if ctype not in SUPPORTED:
                    problems.append(f"{cid!r}: type not in the test's support table")
                elif signal not in SUPPORTED[ctype]:
                    problems.append(f"pipeline {name!r}: {cid!r} does not handle {signal}")
    for cid in defined["connectors"]:
        consumes, emits = CONNECTORS.get(_type(cid), ("?", "?"))
        if connector_in.get(cid) != {consumes}:
            problems.append(f"connector {cid!r} must be an exporter of {consumes} pipelines "
                            f"only, is one of {sorted(connector_in.get(cid, set()))}")
        if connector_out.get(cid) != {emits}:
            problems.append(f"connector {cid!r} must be a receiver of {emits} pipelines "
                            f"only, is one of {sorted(connector_out.get(cid, set()))}")
    for kind in ("receivers", "processors", "exporters"):
        for cid in sorted(defined[kind] - used[kind]):
            problems.append(f"{kind[:-1]} {cid!r} is defined but no pipeline uses it")
    return problems


def _pipelines(cfg: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    result: dict[str, dict[str, list[str]]] = cfg["service"]["pipelines"]
    return result


@pytest.mark.parametrize("path", [MAIN, LOAD_BALANCING], ids=lambda p: p.name)
def test_every_component_is_defined_and_every_pipeline_wired(path: Path) -> None:
    assert wiring_problems(_load(path)) == []


@pytest.mark.parametrize("path", [MAIN, LOAD_BALANCING], ids=lambda p: p.name)
def test_memory_limiter_first_and_batch_in_every_pipeline(path: Path) -> None:
    for name, pipe in _pipelines(_load(path)).items():
        procs = pipe.get("processors") or []
        assert procs[:1] == ["memory_limiter"], f"{name}: memory_limiter must come first"
        assert "batch" in procs, f"{name}: no batch processor"
        if "delta_to_cumulative" in procs:
            assert procs.index("delta_to_cumulative") < procs.index("batch"), name


def test_the_checker_catches_broken_wiring() -> None:
    """The checks above would fail on the mistakes they are meant to catch."""
    cfg = _load(MAIN)
    cfg["service"]["pipelines"]["logs"]["exporters"].append("otlp_http/typo")
    cfg["service"]["pipelines"]["traces"]["processors"].append("delta_to_cumulative")
    cfg["exporters"]["otlphttp/old"] = {"endpoint": "http://x:4318"}
    cfg["service"]["pipelines"]["metrics"]["exporters"].append("otlphttp/old")
    cfg["exporters"]["debug"] = {}
    cfg["service"]["pipelines"]["metrics/prometheus"]["receivers"].remove("span_metrics")
    problems = "\n".join(wiring_problems(cfg))
    assert "'otlp_http/typo' is not defined" in problems
    assert "'delta_to_cumulative' does not handle traces" in problems
    assert "'otlphttp/old' uses a deprecated name" in problems
    assert "'debug' is defined but no pipeline uses it" in problems
    assert "connector 'span_metrics' must be a receiver of metrics" in problems


def _exporters_for(cfg: dict[str, Any], signal: str) -> set[str]:
    out: set[str] = set()
    for name, pipe in _pipelines(cfg).items():
        if _type(name) == signal:
            out.update(pipe["exporters"])
    return out


def test_main_config_sends_each_signal_where_otel_ml_needs_it() -> None:
    cfg = _load(MAIN)
    traces = _exporters_for(cfg, "traces")
    metrics = _exporters_for(cfg, "metrics")
    logs = _exporters_for(cfg, "logs")
    assert "otlp_grpc/jaeger" in traces
    assert "otlp_http/evaluator" in metrics  # feature sketches, counters
    assert "otlp_http/evaluator" in logs  # prediction and outcome events
    assert "otlp_http/logs" in logs
    assert "prometheus_remote_write" in metrics
    # the evaluator path must not reshape otel_ml's DELTA points
    for name, pipe in _pipelines(cfg).items():
        if "otlp_http/evaluator" in pipe["exporters"]:
            assert set(pipe.get("processors", [])) <= {"memory_limiter", "batch"}, name
    evaluator = cfg["exporters"]["otlp_http/evaluator"]
    assert evaluator["endpoint"].endswith(":-http://evaluator:4318}")
    assert cfg["exporters"]["otlp_grpc/jaeger"]["endpoint"].endswith(":-jaeger:4317}")
    # remote write takes cumulative series only: the otel_ml DELTA points are converted
    prom = _pipelines(cfg)["metrics/prometheus"]
    assert "delta_to_cumulative" in prom["processors"]


def test_load_balancing_config_routes_a_model_to_one_evaluator() -> None:
    cfg = _load(LOAD_BALANCING)
    lb_id = "load_balancing/evaluators"
    lb = cfg["exporters"][lb_id]
    assert lb["routing_key"] == "attributes"
    assert lb["routing_attributes"] == ["ml.model.name"]
    assert "endpoint" not in lb["protocol"]["otlp"]  # the resolver provides it
    hosts = lb["resolver"]["static"]["hostnames"]
    assert len(hosts) >= 2 and all(h.endswith(":4317") for h in hosts)
    # the same exporter instance (same ring) carries metrics and logs
    assert lb_id in _exporters_for(cfg, "metrics")
    assert lb_id in _exporters_for(cfg, "logs")
    assert lb_id not in _exporters_for(cfg, "traces")
    assert "otlp_http/evaluator" not in cfg["exporters"]
