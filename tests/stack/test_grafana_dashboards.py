"""Grafana provisioning and dashboards: complete, wired to the provisioned data sources,
PromQL that Prometheus accepts (checked with promtool), metric names from semconv.

Whether every query returns data is checked against a real Prometheus in
test_stack_integration.py, from the same extraction (grafana_queries.py).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml
from grafana_queries import (
    DASHBOARD_DIR,
    all_panel_queries,
    all_variable_queries,
    iter_panels,
    load_dashboards,
    panel_queries,
    render,
)

from otel_ml import semconv as sc

ROOT = Path(__file__).resolve().parents[2]
PROVISIONING = ROOT / "collector-config" / "grafana" / "provisioning"
RULES = sorted((ROOT / "collector-config" / "prometheus" / "rules").glob("*.rules.yml"))
PROMTOOL = shutil.which("promtool")

DASHBOARDS = load_dashboards()
QUERIES = all_panel_queries()

_COUNTERS = (sc.METRIC_PREDICT_CALLS, sc.METRIC_PREDICT_ROWS, sc.METRIC_PREDICT_ERRORS,
             sc.METRIC_FEATURE_CATEGORIES, sc.METRIC_PREDICTION_CLASSES,
             sc.METRIC_DATA_QUALITY_ISSUES, sc.METRIC_INTERNAL_ERRORS,
             sc.METRIC_EVAL_POINTS_RECEIVED, sc.METRIC_EVAL_POINTS_REJECTED,
             sc.METRIC_EVAL_REQUESTS, sc.METRIC_EVAL_BATCHES, sc.METRIC_NOTIFICATIONS,
             sc.METRIC_PERFORMANCE_CHANGES)
_HISTOGRAMS = (sc.METRIC_PREDICT_DURATION, sc.METRIC_FEATURE_VALUES, sc.METRIC_PREDICTION_VALUES)
_GAUGES = (sc.METRIC_DRIFT_SCORE, sc.METRIC_DRIFT_DETECTED, sc.METRIC_DRIFT_P_VALUE,
           sc.METRIC_DRIFT_GRADE,
           sc.METRIC_DATA_QUALITY_RATE, sc.METRIC_PERFORMANCE, sc.METRIC_LABEL_COVERAGE,
           sc.METRIC_LABEL_DELAY, sc.METRIC_WINDOW_ROWS, sc.METRIC_PREDICT_DURATION_QUANTILE,
           sc.METRIC_ERROR_RATE, sc.METRIC_EVAL_QUEUE_DEPTH, sc.METRIC_EVAL_WINDOW_LAG,
           sc.METRIC_EVAL_PENDING_PREDICTIONS, sc.METRIC_DRIFT_MULTIVARIATE_SCORE,
           sc.METRIC_DRIFT_MULTIVARIATE_ERROR, sc.METRIC_DRIFT_MULTIVARIATE_DETECTED,
           sc.METRIC_ESTIMATED_PERFORMANCE, sc.METRIC_ESTIMATED_PERFORMANCE_LOWER,
           sc.METRIC_ESTIMATED_PERFORMANCE_UPPER)
_SECONDS = {sc.METRIC_PREDICT_DURATION, sc.METRIC_LABEL_DELAY, sc.METRIC_PREDICT_DURATION_QUANTILE,
            sc.METRIC_EVAL_WINDOW_LAG}


def prometheus_name(otel_name: str) -> str:
    """The name the OTel Prometheus exporter gives a metric (unit suffix, no _total)."""
    base = otel_name.replace(".", "_")
    return base + "_seconds" if otel_name in _SECONDS else base


def known_series_names() -> set[str]:
    names = {"up", "ALERTS", "target_info"}
    names |= {prometheus_name(n) + "_total" for n in _COUNTERS}
    names |= {prometheus_name(n) + s for n in _HISTOGRAMS for s in ("_bucket", "_sum", "_count")}
    names |= {prometheus_name(n) for n in _GAUGES}
    for path in RULES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            names |= {r["record"] for r in group["rules"] if "record" in r}
    return names


_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_MATCHERS = re.compile(r"\{[^}]*\}")
_TOKEN = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_NOT_METRICS = {"sum", "max", "min", "avg", "count", "rate", "irate", "increase",
                "histogram_quantile", "or", "and", "unless", "by", "absent", "e"}


def metric_names(expr: str) -> set[str]:
    """Series names an expression selects (functions, labels and keywords removed)."""
    text = _MATCHERS.sub("", _GROUPING.sub("", expr))
    text = re.sub(r"\[[^\]]*\]", "", text)
    return {t for t in _TOKEN.findall(text) if t not in _NOT_METRICS}


def test_the_five_dashboards_exist_with_unique_ids() -> None:
    assert set(DASHBOARDS) == {"otel-ml-overview", "otel-ml-drift", "otel-ml-data-quality",
                               "otel-ml-performance", "otel-ml-evaluator"}
    for uid, dash in DASHBOARDS.items():
        ids = [p["id"] for p in iter_panels(dash)]
        assert len(ids) == len(set(ids)), uid
        titles = [p["title"] for p in iter_panels(dash)]
        assert all(t.strip() for t in titles) and len(titles) == len(set(titles)), uid
        refs = [(q.panel, q.ref_id) for q in panel_queries(dash)]
        assert len(refs) == len(set(refs)), f"{uid}: duplicate refId in a panel"


def _exprs(uid: str) -> str:
    return "\n".join(q.expr for q in QUERIES if q.dashboard == uid)


def _panel_types(uid: str) -> dict[str, str]:
    return {p["title"]: p["type"] for p in iter_panels(DASHBOARDS[uid])}


def test_dashboards_show_what_the_issue_asks_for() -> None:
    overview = _exprs("otel-ml-overview")
    for needle in ("rate(ml_predict_calls_total", "rate(ml_predict_rows_total",
                   "histogram_quantile(0.50", "histogram_quantile(0.95", "histogram_quantile(0.99",
                   "ml_predict_error_ratio", "ml_prediction_values_bucket",
                   "ml_prediction_classes"):
        assert needle in overview, needle
    assert _panel_types("otel-ml-overview")["Prediction distribution: $output"] == "heatmap"
    drift = _exprs("otel-ml-drift")
    assert 'ml_drift_score{' in drift and "ml_feature_values_bucket" in drift
    heatmaps = [p for p in iter_panels(DASHBOARDS["otel-ml-drift"]) if p["type"] == "heatmap"]
    assert heatmaps and heatmaps[0]["repeat"] == "feature"
    assert all(t.get("format") == "heatmap" for p in heatmaps for t in p["targets"])
    assert "ml_data_quality_issues_total" in _exprs("otel-ml-data-quality")
    perf = _exprs("otel-ml-performance")
    for needle in ("ml_performance_value", "ml_label_coverage", "ml_label_delay_seconds"):
        assert needle in perf, needle
    health = _exprs("otel-ml-evaluator")
    for needle in ('up{job="otel-ml-evaluator"}', "otel_ml_evaluator_window_lag_seconds",
                   "otel_ml_evaluator_points_received_total", "otel_ml_evaluator_queue_depth",
                   "otel_ml_notifications_total"):
        assert needle in health, needle


def _jaeger_links(panel: dict[str, object]) -> list[str]:
    defaults = panel.get("fieldConfig", {}).get("defaults", {})  # type: ignore[union-attr]
    links = defaults.get("links", [])
    return [link["url"] for link in links if '"datasource":"jaeger"' in link["url"]]


def test_latency_and_alert_panels_link_to_jaeger() -> None:
    latency = [p for d in DASHBOARDS.values() for p in iter_panels(d)
               if "duration_seconds_bucket" in str(p.get("targets"))
               or "duration_quantile" in str(p.get("targets"))]
    assert len(latency) >= 2
    for panel in latency:
        assert _jaeger_links(panel), panel["title"]
        for t in panel["targets"]:
            if "ml_predict_duration_seconds_bucket" in t["expr"]:
                assert t["exemplar"] is True, panel["title"]
    alert_panels = [p for p in iter_panels(DASHBOARDS["otel-ml-overview"])
                    if "ALERTS" in str(p.get("targets"))]
    assert alert_panels and all(_jaeger_links(p) for p in alert_panels)
    for panel in latency + alert_panels:
        for url in _jaeger_links(panel):
            assert "ml.model.name=" in url and "${service}" in url


def test_provisioned_datasources_match_the_dashboards() -> None:
    sources = yaml.safe_load((PROVISIONING / "datasources" / "otel-ml.yml").read_text())
    by_uid = {s["uid"]: s for s in sources["datasources"]}
    assert by_uid["prometheus"]["type"] == "prometheus"
    assert by_uid["jaeger"]["type"] == "jaeger"
    destinations = by_uid["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
    assert {d["datasourceUid"] for d in destinations} == {"jaeger"}
    used = {
        (p.get("datasource") or {}).get("uid")
        for d in DASHBOARDS.values() for p in iter_panels(d) if p.get("datasource")
    } | {
        (t.get("datasource") or {}).get("uid")
        for d in DASHBOARDS.values() for p in iter_panels(d) for t in p.get("targets", [])
    }
    assert used - {None} <= set(by_uid)
    providers = yaml.safe_load((PROVISIONING / "dashboards" / "otel-ml.yml").read_text())
    assert providers["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards/otel_ml"


def test_every_query_uses_known_metric_names() -> None:
    known = known_series_names()
    for q in QUERIES:
        unknown = metric_names(render(q.expr, {})) - known
        assert not unknown, f"{q.name}: unknown series {sorted(unknown)}"
    for v in all_variable_queries():
        assert metric_names(render(v.selector, {})) <= known, v


def test_metric_name_extraction() -> None:
    assert metric_names(
        'sum by (le, a) (rate(ml_x_bucket{a=~"b"}[1m])) or up{job="j"} * 0'
    ) == {"ml_x_bucket", "up"}


def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses every rendered panel and variable query (as recording rules)."""
    assert PROMTOOL is not None, "promtool not found: run ./dev setup (Debian package prometheus)"
    exprs = [render(q.expr, {}) for q in QUERIES]
    exprs += [render(v.selector, {}) for v in all_variable_queries() if v.selector]
    rules = {"groups": [{"name": "dashboards", "rules": [
        {"record": f"dashboard:query_{i}", "expr": e} for i, e in enumerate(exprs)]}]}
    path = tmp_path / "dashboard-queries.rules.yml"
    path.write_text(yaml.safe_dump(rules))
    result = subprocess.run([str(PROMTOOL), "check", "rules", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in result.stdout
    assert len(QUERIES) >= 40 and DASHBOARD_DIR.is_dir()
