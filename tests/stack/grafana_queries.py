"""Every PromQL query of the shipped Grafana dashboards, ready to run against Prometheus.

Used by the dashboard checks (syntax via promtool, metric names) and by the stack
integration test, which runs each query against a real Prometheus scraping a monitored
model and the evaluator and requires data back. Grafana macros and template variables
are replaced by :func:`render` with values a plain Prometheus understands.

Examples
--------
>>> render('rate(x{m=~"$model"}[$__rate_interval])', {"model": "churn"})
'rate(x{m=~"churn"}[1m])'
>>> render('sum(y{v=~"${version:regex}"})', {})
'sum(y{v=~".*"})'
>>> parse_label_values("label_values(ml_predict_calls_total{a=\\"b\\"}, ml_model_name)")
('ml_predict_calls_total{a="b"}', 'ml_model_name')
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD_DIR = ROOT / "collector-config" / "grafana" / "dashboards"

# What the Grafana macros stand for when a query runs outside Grafana.
MACROS = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "5m",
}
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")
_LABEL_VALUES = re.compile(r"^\s*label_values\((?:(.*),\s*)?(\w+)\)\s*$", re.S)


@dataclass(frozen=True)
class PanelQuery:
    """One Prometheus target of one panel."""

    dashboard: str  # dashboard uid
    panel: str  # panel title
    ref_id: str
    expr: str  # as written in the dashboard, with variables and macros
    exemplar: bool

    @property
    def name(self) -> str:
        return f"{self.dashboard}/{self.panel}/{self.ref_id}"


@dataclass(frozen=True)
class VariableQuery:
    """A dashboard variable filled by ``label_values(selector, label)``."""

    dashboard: str
    variable: str
    selector: str  # may be empty: label_values(label) over every series
    label: str


def load_dashboards(directory: Path = DASHBOARD_DIR) -> dict[str, dict[str, Any]]:
    """Dashboard JSON by uid."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.json")):
        data = json.loads(path.read_text())
        out[data["uid"]] = data
    return out


def iter_panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in (collapsed) rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def panel_queries(dashboard: Mapping[str, Any]) -> list[PanelQuery]:
    """The Prometheus targets of every panel, in dashboard order."""
    out: list[PanelQuery] = []
    for panel in iter_panels(dashboard):
        for target in panel.get("targets", []):
            ds = target.get("datasource") or panel.get("datasource") or {}
            if ds.get("type") != "prometheus" or not target.get("expr"):
                continue
            out.append(PanelQuery(dashboard["uid"], panel["title"], target["refId"],
                                  target["expr"], bool(target.get("exemplar"))))
    return out


def parse_label_values(query: str) -> tuple[str, str]:
    """``(selector, label)`` of a ``label_values(...)`` variable query."""
    m = _LABEL_VALUES.match(query)
    if m is None:
        raise ValueError(f"not a label_values() query: {query!r}")
    return (m.group(1) or "").strip(), m.group(2)


def variable_queries(dashboard: Mapping[str, Any]) -> list[VariableQuery]:
    out: list[VariableQuery] = []
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") != "query":
            continue
        q = var["query"]
        text = q["query"] if isinstance(q, dict) else q
        selector, label = parse_label_values(text)
        out.append(VariableQuery(dashboard["uid"], var["name"], selector, label))
    return out


def all_panel_queries(directory: Path = DASHBOARD_DIR) -> list[PanelQuery]:
    return [q for d in load_dashboards(directory).values() for q in panel_queries(d)]


def all_variable_queries(directory: Path = DASHBOARD_DIR) -> list[VariableQuery]:
    return [q for d in load_dashboards(directory).values() for q in variable_queries(d)]


def render(expr: str, variables: Mapping[str, str], *, default: str = ".*") -> str:
    """``expr`` with Grafana macros and ``$var`` / ``${var}`` / ``${var:fmt}`` replaced.

    Variables not in ``variables`` become ``default`` (what "All" means with
    ``allValue: ".*"``), so a rendered query matches every series.
    """
    for macro, value in MACROS.items():
        expr = expr.replace(macro, value)

    def sub(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        return variables.get(name, default)

    return _VARIABLE.sub(sub, expr)
