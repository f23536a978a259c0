"""One exit-code table for every command group: bad input exits 1 naming it, an outside system
failing exits 2 naming it, in one line without a traceback; and each shared option is
declared once.

Outside systems fail for real: git against a remote that does not exist, GitHub's API on a
port nothing listens on, `kubectl` and `docker` stand-ins on PATH that exit 1.
"""

from __future__ import annotations

import ast
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import typer
from support.loopback import free_port
from typer.testing import CliRunner

from contrail.cli import app
from contrail.cli.common import ExitCode, guard
from contrail.errors import DEBUG_ENV

PROJECT = Path(__file__).resolve().parents[2]
SRC = PROJECT / "src" / "contrail"
PARAMS = str(PROJECT / "params.yaml")


def failing_tool(folder: Path, name: str, message: str) -> None:
    """`name` on PATH: prints `message` to stderr and exits 1, as a tool that cannot reach
    its cluster or registry does."""
    folder.mkdir(exist_ok=True)
    tool = folder / name
    tool.write_text(f"#!/bin/sh\necho '{message}' >&2\nexit 1\n")
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)


def tools_on_path(tmp: Path) -> dict[str, str]:
    failing_tool(tmp / "bin", "kubectl", "error: the server is unreachable")
    failing_tool(tmp / "bin", "docker", "denied: registry says no")
    return {"PATH": f"{tmp / 'bin'}{os.pathsep}{os.environ['PATH']}"}


def github_down(_: Path) -> dict[str, str]:
    return {
        "GITHUB_TOKEN": "t", "GITHUB_REPOSITORY": "o/r", "CONTRAIL_PR_HEAD_REPO": "o/r",
        "GITHUB_API_URL": f"http://127.0.0.1:{free_port()}", "GITHUB_EVENT_NAME": "pull_request",
        "CONTRAIL_EVENT_ACTION": "labeled", "CONTRAIL_EVENT_LABEL": "allow-regression",
    }  # fmt: skip


def nothing(_: Path) -> dict[str, str]:
    return {}


@dataclass(frozen=True)
class Case:
    args: list[str]
    says: str
    env: Callable[[Path], dict[str, str]] = field(default=nothing)
    in_project: bool = False  # run in the repository (deploy/), not in an empty folder


BAD_INPUT = {
    "stages": Case(["ingest", "--params", "missing.yaml"], "contrail ingest failed: missing.yaml"),
    "check-params": Case(
        ["check-params", "--params", "missing.yaml"], "contrail check-params failed: missing.yaml"
    ),
    "remote-plugin": Case(
        ["remote-plugin", "hdfs://namenode/x"],
        "contrail remote-plugin failed: unsupported DVC remote scheme 'hdfs://'",
    ),
    "report": Case(["report", "--params", "missing.yaml"], "contrail report: missing.yaml"),
    "gate": Case(["gate", "--params", "missing.yaml"], "contrail gate: missing.yaml"),
    "monitor": Case(
        ["monitor", "--params", "missing.yaml"], "contrail monitor failed: missing.yaml"
    ),
    "retrain": Case(
        ["retrain", "publish"],
        "contrail retrain publish failed: GITHUB_TOKEN and GITHUB_REPOSITORY unset",
    ),
    "release": Case(["release", "deploy", "--image", "x"], "contrail release deploy: set STAGE"),
    "serving": Case(
        ["smoke", "--url", "http://127.0.0.1:9", "--goldens", "missing.json"],
        "contrail smoke: cannot read goldens missing.json",
    ),
}
OUTSIDE_FAILURE = {
    "report": Case(
        ["report", "--params", PARAMS],
        "contrail report: unknown base revision 'main'",
    ),
    "gate": Case(
        ["gate", "--on-label", "--pr", "7", "--params", PARAMS],
        "contrail gate: GET pulls/7: [Errno 111] Connection refused",
        github_down,
    ),
    "history": Case(
        ["history", "pull", "--remote", "nowhere"], "contrail history pull failed: git ls-remote"
    ),
    "release-git": Case(["release", "list"], "contrail release list: gto history failed"),
    "release-cluster": Case(
        ["release", "canary-delete"],
        "contrail release canary-delete: `kubectl -n contrail delete deployment/flight-delay-"
        "canary --ignore-not-found --wait=true` exited with 1: error: the server is unreachable",
        tools_on_path,
        in_project=True,
    ),
    "release-registry": Case(
        [
            "release",
            "push-image",
            "--image",
            "local",
            "--repository",
            "reg.example/x",
            "--tag",
            "t",
            "--ref-file",
            "ref",
        ],
        "contrail release push-image: `docker tag` exited with 1",
        tools_on_path,
    ),
}


def invoke(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    monkeypatch.chdir(PROJECT if case.in_project else tmp_path)
    for name in ("GITHUB_OUTPUT", "GITHUB_TOKEN", "GITHUB_REPOSITORY", DEBUG_ENV):
        monkeypatch.delenv(name, raising=False)
    for name, value in case.env(tmp_path).items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, case.args)
    return result.exit_code, result.stderr


@pytest.mark.parametrize("case", BAD_INPUT.values(), ids=BAD_INPUT.keys())
def test_bad_input_exits_1_naming_it_in_one_line(case, tmp_path, monkeypatch):
    code, stderr = invoke(case, tmp_path, monkeypatch)
    assert code == ExitCode.FIX == 1
    assert stderr.startswith(case.says), stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize("case", OUTSIDE_FAILURE.values(), ids=OUTSIDE_FAILURE.keys())
def test_an_outside_failure_exits_2_naming_it(case, tmp_path, monkeypatch):
    code, stderr = invoke(case, tmp_path, monkeypatch)
    assert code == ExitCode.UNDECIDED == 2
    assert case.says in stderr.splitlines()[-1], stderr
    assert "Traceback" not in stderr


def test_a_bug_exits_2_in_one_line_and_the_traceback_is_one_variable_away(monkeypatch, capsys):
    def bug() -> None:
        raise KeyError("features")

    monkeypatch.delenv(DEBUG_ENV, raising=False)
    with pytest.raises(typer.Exit) as done:
        guard("train", bug)
    assert done.value.exit_code == ExitCode.UNDECIDED
    assert capsys.readouterr().err == (
        f"contrail train failed unexpectedly: KeyError: 'features' (set {DEBUG_ENV}=1 for the "
        "traceback)\n"
    )
    monkeypatch.setenv(DEBUG_ENV, "1")
    with pytest.raises(typer.Exit):
        guard("train", bug)
    assert "Traceback" in capsys.readouterr().err


def test_an_exit_raised_by_the_command_passes_through(capsys):
    def verdict() -> None:
        raise typer.Exit(ExitCode.FIX)

    with pytest.raises(typer.Exit) as done:
        guard("gate", verdict)
    assert done.value.exit_code == 1
    assert capsys.readouterr().err == ""


def test_a_command_may_read_more_types_as_bad_input(capsys):
    def broken_csv() -> None:
        raise ValueError("history.csv, line 3: not a month")

    with pytest.raises(typer.Exit) as done:
        guard("history pull", broken_csv, input_errors=(ValueError,))
    assert done.value.exit_code == ExitCode.FIX
    assert capsys.readouterr().err == (
        "contrail history pull failed: history.csv, line 3: not a month\n"
    )


def option_declarations(name: str) -> list[str]:
    """`file:line` of every `typer.Option(...)` call in src/contrail naming option `name`."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "Option"
                and any(isinstance(a, ast.Constant) and a.value == name for a in node.args)
            ):
                found.append(f"{path.relative_to(SRC)}:{node.lineno}")
    return found


@pytest.mark.parametrize("name", ["--params", "--github-output", "--push"])
def test_a_shared_option_is_declared_once(name):
    declared = option_declarations(name)
    assert len(declared) == 1 and declared[0].startswith("cli/common.py:"), declared


def commands(group: Any, path: str = "contrail") -> dict[str, Any]:
    """Every command of the Click tree Typer builds, by its full name."""
    if hasattr(group, "commands"):
        found: dict[str, Any] = {}
        for name, command in group.commands.items():
            found |= commands(command, f"{path} {name}")
        return found
    return {path: group}


def test_every_command_that_writes_outputs_reads_github_output_from_the_environment():
    writers = {
        path: param
        for path, command in commands(typer.main.get_command(app)).items()
        for param in command.params
        if param.name == "github_output"
    }
    assert set(writers) == {
        "contrail monitor", "contrail retrain prepare", "contrail gate",
        "contrail release push-image", "contrail release register",
        "contrail release rollback-target", "contrail release stage-tag",
        "contrail release choose-cluster",
    }  # fmt: skip
    assert {param.envvar for param in writers.values()} == {"GITHUB_OUTPUT"}
