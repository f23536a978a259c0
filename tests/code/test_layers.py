"""The layers the README's architecture section draws, checked on the source: pure core,
stages and areas, one transport per outside system, the CLI."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "contrail"

PURE_CORE = [
    "features", "metrics", "drift", "months", "params", "identity", "github_output",
    "data/schema", "data/relations", "gate/rules", "gate/events", "gate/recorded",
    "monitor/policy", "monitor/pulls", "monitor/history", "monitor/pages", "release/versions",
    "release/deploy", "release/image", "report/compare", "report/pr_comment", "report/mermaid",
]  # fmt: skip
# Modules that do I/O: the core reaches none of them.
IO_MODULES = (
    "contrail.io", "contrail.transports", "contrail.cli", "contrail.stages", "contrail.serving",
    "contrail.gate_run", "contrail.report.publish", "contrail.report.revision",
    "contrail.report.base_model", "contrail.release.rollout", "contrail.release.commands",
    "contrail.release.registry", "contrail.monitor.run", "contrail.monitor.retrain",
    "contrail.monitor.commands", "contrail.monitor.production", "contrail.monitor.branch",
)  # fmt: skip
# Starting a process or speaking HTTP outside the transports: each is the project's own
# service or BentoML's CLI, not an outside system.
OWN_PROCESSES = {
    "serving/commands.py": "execs `bentoml serve` (contrail serve)",
    "serving/package.py": "runs `bentoml build`",
    "serving/smoke.py": "HTTP to the contrail service under test",
    "release/probe.py": "HTTP to the deployed contrail service (smoke, /metrics)",
}
STARTS_PROCESS_OR_HTTP = re.compile(r"\bsubprocess\b|\bhttpx\b|urllib\.request|\bos\.exec")


def contrail_imports(path: Path) -> set[str]:
    """Every `contrail` module a file imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("contrail"):
            found |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("contrail")}
    return found


@pytest.mark.parametrize("module", PURE_CORE)
def test_the_pure_core_reaches_no_io_module(module: str) -> None:
    reached = {m for m in contrail_imports(SRC / f"{module}.py") if m.startswith(IO_MODULES)}
    assert reached == set()


@pytest.mark.parametrize("path", sorted((SRC / "transports").glob("*.py")), ids=lambda p: p.name)
def test_a_transport_imports_no_other_contrail_module(path: Path) -> None:
    assert {m for m in contrail_imports(path) if not m.startswith("contrail.transports")} == set()


def test_only_the_cli_package_imports_the_cli() -> None:
    outside = [p for p in SRC.rglob("*.py") if "cli" not in p.relative_to(SRC).parts]
    assert [
        p for p in outside if any(m.startswith("contrail.cli") for m in contrail_imports(p))
    ] == []


def test_only_the_transports_start_processes_or_call_outside_systems() -> None:
    starting = {
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if STARTS_PROCESS_OR_HTTP.search(p.read_text())
    }
    transports = {
        f"transports/{p.name}" for p in (SRC / "transports").glob("*.py") if p.name != "__init__.py"
    }
    assert starting - transports == set(OWN_PROCESSES)
