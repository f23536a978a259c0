"""deploy/monitoring/check.py: accepts the shipped alert rules and dashboard, and names the rule,
panel or query of every problem it finds in broken copies, in one line and exit 1."""

from __future__ import annotations

import copy
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

MONITORING = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"
CHECK = MONITORING / "check.py"


def load_checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("monitoring_check", CHECK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and pydantic look their module up there
    spec.loader.exec_module(module)
    return module


checker = load_checker()
RULES: dict[str, Any] = yaml.safe_load((MONITORING / "alerts.yaml").read_text())
DASHBOARD: dict[str, Any] = json.loads((MONITORING / "dashboard.json").read_text())
FIRST = RULES["groups"][0]["rules"][0]["alert"]
GROUP = RULES["groups"][0]["name"]


def run(tmp_path: Path, rules: Any = RULES, dashboard: Any = DASHBOARD) -> list[str]:
    """The checker's problems for these files, after checking it exits 1 exactly when any."""
    rules_path, dashboard_path = tmp_path / "alerts.yaml", tmp_path / "dashboard.json"
    rules_path.write_text(rules if isinstance(rules, str) else yaml.safe_dump(rules))
    dashboard_path.write_text(dashboard if isinstance(dashboard, str) else json.dumps(dashboard))
    report = checker.check(rules_path, dashboard_path)
    code = checker.main(["--rules", str(rules_path), "--dashboard", str(dashboard_path)])
    assert code == (1 if report.problems else 0)
    return list(report.problems)


def test_the_shipped_files_pass_and_name_the_metrics_they_use():
    result = subprocess.run(
        [sys.executable, str(CHECK)], capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert "  contrail_prediction_probability_sum\n" in result.stdout
    assert "  bentoml_service_request_duration_seconds_bucket\n" in result.stdout


def test_every_alert_has_for_severity_and_runbook():
    for rule in RULES["groups"][0]["rules"]:
        assert checker.DURATION.fullmatch(rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning"}
        assert set(rule["annotations"]) == {"summary", "description", "runbook"}


def with_first_rule(**changes: Any) -> dict[str, Any]:
    """The shipped rules with the first alert's keys changed (None removes a key)."""
    rules = copy.deepcopy(RULES)
    rule = rules["groups"][0]["rules"][0]
    for key, value in changes.items():
        rule.pop(key) if value is None else rule.__setitem__(key, value)
    return rules


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"expr": "rate(foo_total[5m]"}, "PromQL does not parse"),
        ({"expr": "no_such_function(foo_total)"}, "unknown function"),
        ({"for": None}, "missing 'for'"),
        ({"for": "5 minutes"}, "for: '5 minutes' is not a duration"),
        ({"for": "5"}, "for: '5' is not a duration"),
        ({"fro": "5m"}, "unknown key 'fro'"),
        ({"labels": {"severity": "page"}}, "labels.severity"),
        ({"annotations": {"summary": "s", "description": "d"}}, "missing 'annotations.runbook'"),
    ],
    ids=["bad PromQL", "unknown function", "missing for", "prose for", "unitless for",
         "unknown key", "unknown severity", "no runbook"],
)  # fmt: skip
def test_a_broken_rule_is_named(tmp_path, changes, problem):
    problems = run(tmp_path, with_first_rule(**changes))
    assert problems
    assert all(
        p.startswith(f"{tmp_path / 'alerts.yaml'}: group {GROUP!r}, alert {FIRST!r}")
        for p in problems
    )
    assert any(problem in p for p in problems), problems


def test_a_rule_file_not_in_prometheus_format_is_reported_not_raised(tmp_path):
    assert run(tmp_path, rules="- alert: X\n") == [
        f"{tmp_path / 'alerts.yaml'}: file: Input should be a valid dictionary"
        " or instance of RuleFile"
    ]
    (problem,) = run(tmp_path, rules="groups: [\n")
    assert problem.startswith(f"{tmp_path / 'alerts.yaml'}: cannot read:")


def test_an_unnamed_rule_is_located_by_position(tmp_path):
    rules = with_first_rule(alert=None)
    assert run(tmp_path, rules) == [
        f"{tmp_path / 'alerts.yaml'}: group {GROUP!r}, alert #1: missing 'alert'"
    ]


def with_first_target(**changes: Any) -> dict[str, Any]:
    dashboard = copy.deepcopy(DASHBOARD)
    dashboard["panels"][0]["targets"][0].update(changes)
    return dashboard


PANEL = DASHBOARD["panels"][0]["title"]


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"expr": "sum(rate(bentoml_service_request_total[$__rate_interval])"}, "PromQL does not parse"),
        ({"expr": 'sum(up{job=~"$job"})'}, "uses a variable the dashboard does not define"),
        ({"expr": ""}, "no query"),
        ({"datasource": {"type": "prometheus", "uid": "P1809F7CD0C75ACF3"}}, "not the ${datasource} variable"),
    ],
    ids=["bad PromQL", "unknown variable", "empty", "fixed datasource"],
)  # fmt: skip
def test_a_broken_panel_query_is_named(tmp_path, changes, problem):
    (found,) = run(tmp_path, dashboard=with_first_target(**changes))
    assert found.startswith(f"{tmp_path / 'dashboard.json'}: panel {PANEL!r}, query A: ")
    assert problem in found


def test_a_dashboard_that_is_not_one_is_reported(tmp_path):
    assert run(tmp_path, dashboard="{")[0].startswith(
        f"{tmp_path / 'dashboard.json'}: cannot read:"
    )
    no_datasource = copy.deepcopy(DASHBOARD)
    no_datasource["templating"]["list"] = []
    problems = run(tmp_path, dashboard=no_datasource)
    assert f"{tmp_path / 'dashboard.json'}: no `datasource` variable of type prometheus" in problems


def test_the_script_prints_one_line_per_problem_and_exits_1(tmp_path):
    (tmp_path / "alerts.yaml").write_text(yaml.safe_dump(with_first_rule(expr="rate(x[5m")))
    result = subprocess.run(
        [sys.executable, str(CHECK), "--rules", str(tmp_path / "alerts.yaml")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith(
        f"check.py: {tmp_path / 'alerts.yaml'}: group {GROUP!r}, alert {FIRST!r}: "
    )
    assert "Traceback" not in result.stderr and result.stdout == ""


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("sum(rate(a_total[5m])) / sum(rate(b_total[5m]))", {"a_total", "b_total"}),
        ('{__name__="c_seconds_bucket", le="1"} > 0', {"c_seconds_bucket"}),
        ("max_over_time(d[1h:5m]) and on () vector(1)", {"d"}),
        ("histogram_quantile(0.9, sum by (le) (rate(e_bucket[5m])))", {"e_bucket"}),
    ],
)
def test_metric_names_come_from_every_selector(expr, names):
    import promql_parser

    assert checker.metric_names(promql_parser.parse(expr)) == names
