"""The shipped alert rules and Grafana dashboard (deploy/prometheus/, deploy/grafana/): valid,
and watching only metrics the API really serves. promtool (Debian's `prometheus` package;
.ci/run installs it) checks the PromQL and runs the alerts' unit tests where it is installed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from tests.serve.test_app import RECORD, settings_for, train_tiny_model

from bikecast.serve import create_app

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy/prometheus/alerts.yaml"
ALERTS_TEST = ROOT / "deploy/prometheus/alerts_test.yaml"
DASHBOARD = ROOT / "deploy/grafana/bikecast.json"
METRIC = re.compile(r"\b((?:bikecast|http)_[a-z_]+)\b")
PROMTOOL = shutil.which("promtool")


def alert_rules() -> list[dict]:
    return [
        rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]
    ]


def dashboard_exprs() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel["targets"]]


@pytest.fixture(scope="module")
def served_metrics(tmp_path_factory) -> set[str]:
    """Every sample name a live app serves once it has forecast, in and out of range."""
    tmp = tmp_path_factory.mktemp("monitoring")
    model = train_tiny_model(tmp / "models")
    settings = settings_for(model.with_suffix(".onnx"), tmp)
    with TestClient(create_app(settings)) as client:
        hot = {**RECORD, "temp_c": 45.0}
        assert client.post("/predict", json={"records": [RECORD, hot]}).status_code == 200
        client.post("/predict", json={"records": []})  # a 422 too
        text = client.get("/metrics").text
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1].isalpha()}


def test_every_alert_is_complete():
    rules = alert_rules()
    assert len(rules) >= 4
    for rule in rules:
        assert rule["alert"].startswith("Bikecast"), rule
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert re.fullmatch(r"\d+[mh]", rule["for"]), rule["alert"]


@pytest.mark.parametrize("source", ["alerts", "dashboard"])
def test_alerts_and_dashboard_watch_only_served_metrics(source, served_metrics):
    exprs = [r["expr"] for r in alert_rules()] if source == "alerts" else dashboard_exprs()
    used = {name for expr in exprs for name in METRIC.findall(expr)}
    assert {"bikecast_inputs_out_of_range_total", "bikecast_prediction_rentals_bucket"} & used
    assert used <= served_metrics, used - served_metrics


def test_dashboard_is_importable():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "bikecast-api" and dashboard["title"]
    (variable,) = dashboard["templating"]["list"]
    assert (variable["name"], variable["type"], variable["query"]) == (
        "datasource",
        "datasource",
        "prometheus",
    )
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}"
        assert panel["targets"] and all(t["expr"] for t in panel["targets"])


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (apt-get install prometheus)")
def test_promtool_checks_the_rules_and_the_dashboard_queries_and_runs_the_alert_tests(tmp_path):
    check = subprocess.run(
        [PROMTOOL, "check", "rules", str(ALERTS)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    # the dashboard's queries, parsed by Prometheus itself as recording rules
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{i}", "expr": expr} for i, expr in enumerate(dashboard_exprs())
    ]}]}  # fmt: skip
    (tmp_path / "dashboard.yaml").write_text(yaml.safe_dump(rules))
    check = subprocess.run(
        [PROMTOOL, "check", "rules", str(tmp_path / "dashboard.yaml")],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    unit = subprocess.run(
        [PROMTOOL, "test", "rules", str(ALERTS_TEST)],
        capture_output=True,
        text=True,
        cwd=ALERTS.parent,
    )
    assert unit.returncode == 0 and "SUCCESS" in unit.stdout, unit.stdout + unit.stderr
