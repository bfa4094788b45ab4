"""The example Prometheus alert rules and Grafana dashboard (deploy/prometheus, deploy/grafana)
load, and every query in them names metrics and labels assocflow exports: the API's from its
prometheus-client registry (assocflow/metrics.py), the workers' from contract/__init__.py. A
PromQL expression is checked by a small parse (no promtool here): balanced brackets, known
functions and keywords, and every other name a metric with the labels used on it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase

import contract
from assocflow import metrics

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "deploy/prometheus/assocflow-alerts.yml"
DASHBOARD = ROOT / "deploy/grafana/assocflow-dashboard.json"

FUNCTIONS = {"sum", "rate", "increase", "histogram_quantile", "avg", "max", "min", "count",
             "irate", "delta", "abs", "clamp_min", "topk", "absent", "vector"}  # fmt: skip
KEYWORDS = {"by", "without", "and", "or", "unless", "on", "ignoring", "bool", "offset"}
ANY_TARGET = {"job", "instance"}  # Prometheus adds them to every series it scrapes
# The labels the workers put on their metrics (workflows/operators.py `_count` and `settled`,
# worker.py `_delivery_counter`, activities/reconciler.py).
WORKER_LABELS = {
    contract.REQUESTS_ACCEPTED: {"initiator"},
    contract.REQUESTS_SETTLED: {"initiator", "outcome"},
    contract.DECISION_LATENCY: {"initiator", "outcome"},
    contract.REMINDERS_SENT: {"initiator"},
    contract.WEBHOOK_DELIVERIES: {"outcome"},
    contract.REQUESTS_RECONCILED: {"cause"},
}
WORKER_HISTOGRAMS = {contract.DECISION_LATENCY}


def exported() -> dict[str, set[str]]:
    """Every series name assocflow exports, with the labels each may carry."""
    names: dict[str, set[str]] = {"up": set()}
    api_labels = {
        collector._name: set(collector._labelnames)
        for collector in vars(metrics).values()
        if isinstance(collector, MetricWrapperBase)
    }
    for family in REGISTRY.collect():
        if family.name not in api_labels:
            continue
        labels = api_labels[family.name]
        if family.type == "counter":
            names[f"{family.name}_total"] = labels
        elif family.type == "histogram":
            names[f"{family.name}_bucket"] = labels | {"le"}
            names[f"{family.name}_sum"] = names[f"{family.name}_count"] = labels
        else:
            names[family.name] = labels
    assert set(api_labels) <= {n.removesuffix("_total").removesuffix("_bucket") for n in names}
    for name, labels in WORKER_LABELS.items():
        if name in WORKER_HISTOGRAMS:
            names[f"{name}_bucket"] = labels | {"le"}
            names[f"{name}_sum"] = names[f"{name}_count"] = labels
        else:
            names[name] = labels  # the runtime's exporter adds no suffix to a counter
    return names


def check_promql(expr: str, known: dict[str, set[str]]) -> set[str]:
    """The metric names `expr` uses, after checking it; fails on anything it does not know."""
    for opening, closing in ("()", "{}", "[]"):
        depth = 0
        for char in expr:
            depth += (char == opening) - (char == closing)
            assert depth >= 0, (expr, opening)
        assert depth == 0, (expr, opening)
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges: [5m], [$__rate_interval]
    grouped = {g.strip() for part in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", text)
               for g in part.split(",") if g.strip()}  # fmt: skip
    used: set[str] = set()
    for match in re.finditer(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?", text):
        name, selector = match.group(1), match.group(2) or ""
        if name in FUNCTIONS | KEYWORDS or name in grouped:
            continue
        if re.fullmatch(r"\d*e?", name):
            continue
        assert name in known, f"{name!r} in {expr!r} is not a metric assocflow exports"
        used.add(name)
        for label in re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", selector):
            assert label in known[name] | ANY_TARGET, (name, label, expr)
    assert used, f"{expr!r} names no metric"
    labels = set().union(*(known[name] for name in used)) | ANY_TARGET
    assert grouped <= labels, (grouped - labels, expr)
    return used


def test_the_checker_refuses_what_is_not_exported():
    known = exported()
    for bad in (
        "rate(assocflow_http_requests[5m])",  # the counter's name without _total
        "sum(rate(assocflow_requests_settled_total[5m]))",  # the worker's has no suffix
        'sum(rate(assocflow_http_requests_total{outcome="x"}[5m]))',  # not its label
        "sum by (cause) (rate(assocflow_webhook_deliveries[5m]))",
        "sum(rate(assocflow_http_requests_total[5m])",
    ):
        try:
            check_promql(bad, known)
        except AssertionError:
            continue
        raise AssertionError(f"accepted {bad!r}")


def test_alert_rules_load_and_use_real_metrics():
    known = exported()
    groups = yaml.safe_load(RULES.read_text())["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert len(rules) >= 6
    used: set[str] = set()
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert re.fullmatch(r"Assocflow[A-Za-z]+", rule["alert"])
        assert rule["labels"]["severity"] in {"critical", "warning"}
        assert rule["annotations"]["summary"]
        assert re.fullmatch(r"\d+[smhd]", rule.get("for", "0s")), rule["alert"]
        used |= check_promql(rule["expr"], known)
    # The alerts cover the API, the workers, webhooks and the reconciler.
    assert {
        "up", "assocflow_http_requests_total", "assocflow_http_request_duration_seconds_bucket",
        contract.WEBHOOK_DELIVERIES, contract.REQUESTS_RECONCILED,
    } <= used  # fmt: skip


def test_grafana_dashboard_loads_and_each_panel_queries_real_metrics():
    known = exported()
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"]
    assert [v["name"] for v in dashboard["templating"]["list"]] == ["datasource"]
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells = set()
    used: set[str] = set()
    for panel in panels:
        assert panel["datasource"]["uid"] == "${datasource}" and panel["targets"], panel["title"]
        grid = panel["gridPos"]
        area = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])}  # fmt: skip
        assert not area & cells, f"{panel['title']} overlaps another panel"
        assert grid["x"] + grid["w"] <= 24
        cells |= area
        for target in panel["targets"]:
            used |= check_promql(target["expr"], known)
    assert used >= set(known) - {"up"} - {n for n in known if n.endswith(("_sum", "_count"))}
