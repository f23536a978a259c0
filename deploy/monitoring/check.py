"""Offline check of the alert rules and the Grafana dashboard beside this file (no promtool).

promtool (a Go binary) is not installable here. This checks what it would catch: a rule file
not in Prometheus' plain format (strictly: an unknown key is a typo Prometheus refuses or, in
annotations, ignores), a `for:` missing or not a duration, a PromQL expression that does not
parse (promql-parser implements Prometheus' grammar and function list); in the dashboard, a query
that does not parse or a panel not bound to the `${datasource}` variable. It prints the metric
names used: tests/serving/test_telemetry.py checks that the running service exports every one.

    .venv/bin/python deploy/monitoring/check.py [--rules PATH] [--dashboard PATH]

Each problem is one line on stderr naming the file and the group/alert or panel; exit 1.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import promql_parser
import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

HERE = Path(__file__).parent
RULES = HERE / "alerts.yaml"
DASHBOARD = HERE / "dashboard.json"

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
# Prometheus' duration syntax (units required, unlike promql-parser's parse_duration).
DURATION = re.compile(r"([0-9]+(ms|s|m|h|d|w|y))+")
# Grafana's interval variables stand in for a range; any dashboard variable for a regex.
GRAFANA_RANGES = ("__rate_interval", "__interval", "__range")
VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")
LABEL_VALUES = re.compile(r"label_values\((.+),\s*\w+\)")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Labels(Strict):
    severity: Literal["critical", "warning"]


class Annotations(Strict):
    summary: Text
    description: Text
    runbook: Text


class Rule(Strict):
    alert: Text
    expr: Text
    for_: Text = Field(alias="for")
    labels: Labels
    annotations: Annotations


class Group(Strict):
    name: Text
    rules: list[Rule] = Field(min_length=1)


class RuleFile(Strict):
    groups: list[Group] = Field(min_length=1)


@dataclass
class Report:
    """Problems found (one line each) and the metric names the expressions select."""

    problems: list[str] = field(default_factory=list)
    metrics: set[str] = field(default_factory=set)


def metric_names(expr: promql_parser.Expr) -> set[str]:
    """Names of the series an expression selects (matrix selectors wrap a vector selector)."""
    names: set[str] = set()

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                names.add(node.name)
            names.update(
                m.value
                for m in node.matchers.matchers
                if m.name == "__name__" and m.op == promql_parser.MatchOp.Equal
            )

    promql_parser.walk(expr, visit)
    return names


def _shown(path: Path) -> Path:
    """The path as messages name it: relative to the working directory when under it."""
    absolute = path.absolute()
    return absolute.relative_to(Path.cwd()) if absolute.is_relative_to(Path.cwd()) else path


def _parse(expr: str) -> promql_parser.Expr | str:
    """The parsed expression, or why it does not parse (one line)."""
    try:
        return promql_parser.parse(expr)
    except ValueError as exc:
        return f"PromQL does not parse: {' '.join(str(exc).split())}"


def _where(raw: Any, loc: tuple[int | str, ...]) -> tuple[str, str]:
    """A pydantic error location as "group 'g', alert 'a'" and the key path left below it."""
    names, node, rest = [], raw, list(loc)
    for kind, key in (("group", "name"), ("alert", "alert")):
        if len(rest) < 2 or not isinstance(rest[1], int):
            break
        node = node[rest[0]][rest[1]] if isinstance(node, dict) else None
        name = node.get(key) if isinstance(node, dict) else None
        names.append(f"{kind} {name!r}" if isinstance(name, str) else f"{kind} #{rest[1] + 1}")
        rest = rest[2:]
    return ", ".join(names), ".".join(map(str, rest))


def _validation_problems(raw: Any, exc: ValidationError) -> Iterator[str]:
    for error in exc.errors():
        where, key = _where(raw, error["loc"])
        if error["type"] == "extra_forbidden":
            problem = f"unknown key {key!r}"
        elif error["type"] == "missing":
            problem = f"missing {key!r}"
        else:
            problem = f"{key or 'file'}: {error['msg']}"
        yield f"{where}: {problem}" if where else problem


def check_rules(path: Path, report: Report) -> None:
    """Structure, `for:` durations and every expression of a Prometheus rule file."""
    path = _shown(path)
    try:
        raw = yaml.safe_load(path.read_text())
        rules = RuleFile.model_validate(raw)
    except (OSError, yaml.YAMLError) as exc:
        report.problems.append(f"{path}: cannot read: {' '.join(str(exc).split())}")
        return
    except ValidationError as exc:
        report.problems.extend(f"{path}: {p}" for p in _validation_problems(raw, exc))
        return
    seen: set[str] = set()
    for group in rules.groups:
        if group.name in seen:
            report.problems.append(f"{path}: group {group.name!r} is defined twice")
        seen.add(group.name)
        for rule in group.rules:
            where = f"{path}: group {group.name!r}, alert {rule.alert!r}"
            if not DURATION.fullmatch(rule.for_):
                report.problems.append(f"{where}: for: {rule.for_!r} is not a duration like 5m")
            parsed = _parse(rule.expr)
            if isinstance(parsed, str):
                report.problems.append(f"{where}: {parsed}")
            else:
                report.metrics |= metric_names(parsed)


def _substitute(query: str, variables: set[str]) -> str | None:
    """The query with Grafana variables replaced by what they expand to; None if one is unknown."""
    unknown = False

    def value(match: re.Match[str]) -> str:
        nonlocal unknown
        name = next(g for g in match.groups() if g)
        if name in GRAFANA_RANGES:
            return "5m"
        unknown |= name not in variables
        return ".*"

    expanded = VARIABLE.sub(value, query)
    return None if unknown else expanded


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The objects in a JSON list, none for anything else: a malformed dashboard is reported,
    never a traceback."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _panels(panels: Any) -> Iterator[dict[str, Any]]:
    """Every panel, including those inside collapsed rows."""
    for panel in _dicts(panels):
        yield panel
        yield from _panels(panel.get("panels"))


def _uid(datasource: Any) -> Any:
    return datasource.get("uid") if isinstance(datasource, dict) else datasource


def _query(where: str, query: Any, variables: set[str], report: Report) -> None:
    if not isinstance(query, str) or not query.strip():
        report.problems.append(f"{where}: no query")
        return
    expanded = _substitute(query, variables)
    if expanded is None:
        report.problems.append(f"{where}: uses a variable the dashboard does not define")
        return
    parsed = _parse(expanded)
    if isinstance(parsed, str):
        report.problems.append(f"{where}: {parsed}")
    else:
        report.metrics |= metric_names(parsed)


def check_dashboard(path: Path, report: Report) -> None:
    """A Grafana dashboard on a `${datasource}` Prometheus variable whose queries all parse."""
    path = _shown(path)
    try:
        dashboard = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        report.problems.append(f"{path}: cannot read: {' '.join(str(exc).split())}")
        return
    if not isinstance(dashboard, dict) or not isinstance(dashboard.get("panels"), list):
        report.problems.append(f"{path}: not a Grafana dashboard (no panels list)")
        return
    templating = dashboard.get("templating")
    variables = _dicts(templating.get("list") if isinstance(templating, dict) else None)
    names = {str(variable.get("name")) for variable in variables}
    if not any(
        v.get("name") == "datasource" and v.get("type") == "datasource"
        and v.get("query") == "prometheus"
        for v in variables
    ):  # fmt: skip
        report.problems.append(f"{path}: no `datasource` variable of type prometheus")
    for variable in variables:
        if variable.get("type") == "query":
            where = f"{path}: variable {variable.get('name')!r}"
            definition = variable.get("definition")
            match = LABEL_VALUES.fullmatch(definition) if isinstance(definition, str) else None
            if match is None:
                report.problems.append(f"{where}: not label_values(selector, label)")
            else:
                _query(where, match[1], names, report)
    for index, panel in enumerate(_panels(dashboard["panels"]), start=1):
        where = f"{path}: panel {panel.get('title') or f'#{index}'!r}"
        targets = panel.get("targets") or []  # rows and text panels have none
        if not isinstance(targets, list):
            report.problems.append(f"{where}: targets is not a list")
            continue
        for number, target in enumerate(targets, start=1):
            if not isinstance(target, dict):
                report.problems.append(f"{where}, query #{number}: not an object")
                continue
            query = f"{where}, query {target.get('refId', f'#{number}')}"
            if _uid(target.get("datasource", panel.get("datasource"))) != "${datasource}":
                report.problems.append(f"{query}: datasource is not the ${{datasource}} variable")
            _query(query, target.get("expr"), names, report)


def check(rules: Path = RULES, dashboard: Path = DASHBOARD) -> Report:
    report = Report()
    check_rules(rules, report)
    check_dashboard(dashboard, report)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check alerts.yaml and dashboard.json.")
    parser.add_argument("--rules", type=Path, default=RULES)
    parser.add_argument("--dashboard", type=Path, default=DASHBOARD)
    args = parser.parse_args(argv)
    report = check(args.rules, args.dashboard)
    for problem in report.problems:
        print(f"check.py: {problem}", file=sys.stderr)
    if report.problems:
        return 1
    print(f"{args.rules.name} and {args.dashboard.name} are valid; metrics used:")
    print("\n".join(f"  {name}" for name in sorted(report.metrics)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
