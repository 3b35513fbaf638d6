"""Prometheus configuration, recording and alert rules, checked with the real promtool.

`promtool test rules` reports SUCCESS for a test file that tests nothing, so besides
running the unit tests this module checks that each alert has a case in which it fires
and each recording rule a case that checks its value, and then breaks every one of those
expectations at once: promtool must report each alert and each recording rule as failed,
which proves the cases are evaluated and assert something.
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROM = ROOT / "collector-config" / "prometheus"
RULE_FILES = sorted((PROM / "rules").glob("*.rules.yml"))
UNIT_TESTS = PROM / "tests" / "otel-ml.rules.test.yml"
RUNBOOKS = ROOT / "docs" / "runbooks.md"

PROMTOOL = shutil.which("promtool")
if PROMTOOL is None:  # pragma: no cover - ./dev setup installs it
    raise RuntimeError("promtool not found: run ./dev setup (Debian package prometheus)")


def _promtool(*args: str, cwd: Path = PROM) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PROMTOOL), *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def _rules(kind: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            out.extend(r for r in group["rules"] if kind in r)
    return out


ALERTS = _rules("alert")
RECORDS = _rules("record")


def test_rule_files_exist_and_cover_the_required_signals() -> None:
    names = {r["alert"] for r in ALERTS}
    exprs = " ".join(str(r["expr"]) for r in ALERTS)
    assert len(RULE_FILES) == 2
    # latency p95, error rate, drift, accuracy, label coverage, evaluator health
    for needle in ("p95", "error_ratio", "ml_drift_score", "accuracy", "ml_label_coverage",
                   'up{job="otel-ml-evaluator"}'):
        assert needle in exprs, needle
    assert {"MLModelLatencyP95High", "MLModelErrorRateHigh", "MLFeatureDriftHigh",
            "MLModelAccuracyLow", "MLModelLabelCoverageLow", "OtelMlEvaluatorDown"} <= names


def test_promtool_check_config() -> None:
    result = _promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(RULE_FILES)} rule files found" in result.stdout


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_promtool_check_rules(path: Path) -> None:
    n = sum(len(g["rules"]) for g in yaml.safe_load(path.read_text())["groups"])
    result = _promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {n} rules found" in result.stdout


def test_seed_thresholds() -> None:
    """The defaults of the seed document: p95 > 100 ms warning, errors > 5 % critical,
    PSI > 0.2 warning, accuracy < 0.85 critical."""
    by_name = {r["alert"]: r for r in ALERTS}
    expected = {
        "MLModelLatencyP95High": ("> 0.1", "warning"),
        "MLModelErrorRateHigh": ("> 0.05", "critical"),
        "MLFeatureDriftHigh": ("> 0.2", "warning"),
        "MLModelAccuracyLow": ("< 0.85", "critical"),
    }
    for name, (threshold, severity) in expected.items():
        assert str(by_name[name]["expr"]).rstrip().endswith(threshold), name
        assert by_name[name]["labels"]["severity"] == severity, name


@pytest.mark.parametrize("rule", ALERTS, ids=lambda r: r["alert"])
def test_alert_has_severity_and_a_runbook_that_exists(rule: dict[str, Any]) -> None:
    assert rule["labels"]["severity"] in {"critical", "warning", "info"}
    annotations = rule["annotations"]
    assert annotations["summary"].strip() and annotations["description"].strip()
    anchor = rule["alert"].lower()
    assert annotations["runbook_url"] == f"docs/runbooks.md#{anchor}"
    headings = re.findall(r"^## (\S+)\s*$", RUNBOOKS.read_text(), flags=re.M)
    assert rule["alert"] in headings, f"docs/runbooks.md has no section '## {rule['alert']}'"


def _unit_tests() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(UNIT_TESTS.read_text())
    return data


def test_every_alert_has_a_firing_case_and_a_quiet_one() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for group in _unit_tests()["tests"]:
        for case in group.get("alert_rule_test", []):
            (firing if case["exp_alerts"] else quiet).add(case["alertname"])
            for alert in case["exp_alerts"]:
                assert alert.get("exp_annotations"), f"{case['alertname']}: no annotations"
    names = {r["alert"] for r in ALERTS}
    assert names - firing == set(), "alerts without a case where they fire"
    assert names - quiet == set(), "alerts without a case where they stay quiet"


def test_every_recording_rule_has_a_value_check() -> None:
    checked = {
        case["expr"].split("{")[0]
        for group in _unit_tests()["tests"]
        for case in group.get("promql_expr_test", [])
        if case["exp_samples"]
    }
    assert {r["record"] for r in RECORDS} - checked == set()


def test_promtool_unit_tests_pass() -> None:
    result = _promtool("test", "rules", str(UNIT_TESTS.relative_to(PROM)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout and "FAILED" not in result.stdout + result.stderr


def test_promtool_really_evaluates_every_case(tmp_path: Path) -> None:
    """Break every expectation; promtool must name every alert and recording rule."""
    broken = copy.deepcopy(_unit_tests())
    broken["rule_files"] = [str(p) for p in RULE_FILES]
    for group in broken["tests"]:
        for case in group.get("alert_rule_test", []):
            if case["exp_alerts"]:
                case["exp_alerts"] = []
        for case in group.get("promql_expr_test", []):
            for sample in case["exp_samples"]:
                sample["value"] = float(sample["value"]) + 1.0
    path = tmp_path / "broken.test.yml"
    path.write_text(yaml.safe_dump(broken, sort_keys=False))
    result = _promtool("test", "rules", str(path), cwd=tmp_path)
    assert result.returncode != 0
    report = result.stdout + result.stderr  # promtool prints failures on stderr
    failed_alerts = set(re.findall(r"alertname: (\w+), time:", report))
    failed_exprs = {e.split("{")[0] for e in re.findall(r'expr: "(.*?)", time:', report)}
    assert {r["alert"] for r in ALERTS} - failed_alerts == set(), report[:2000]
    assert {r["record"] for r in RECORDS} - failed_exprs == set(), report[:2000]
