"""Each DVC stage's code deps in dvc.yaml are exactly the contrail modules its command runs.

A missing dependency lets DVC skip a stage whose code changed (stale results); an extra one
reruns a stage for nothing. The modules are found from the source: every `import` in the
stage's module, followed transitively through the package, package `__init__`s included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
DVC_YAML = yaml.safe_load((ROOT / "dvc.yaml").read_text())
# The dispatcher (`contrail <stage>` -> contrail.stages.<stage>.run) is not a stage's code:
# editing another command must not rerun the pipeline.
ENTRY = {"check-params": "contrail.params"}


def module_file(name: str) -> Path | None:
    base = SRC / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def imported_modules(path: Path, package: str) -> set[str]:
    """contrail modules an import statement in `path` names (a name may be a submodule)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([base] if base else [])])
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return {name for name in found if name.startswith("contrail") and module_file(name)}


def with_packages(name: str) -> set[str]:
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)}


def code_deps(entry: str) -> set[str]:
    """Repository paths of `entry` and every contrail module it imports, transitively."""
    seen: set[str] = set()
    todo = list(with_packages(entry))
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = module_file(name)
        assert path is not None, name
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for imported in imported_modules(path, package):
            todo += [n for n in with_packages(imported) if n not in seen]
    return {str(module_file(n).relative_to(ROOT)) for n in seen}  # type: ignore[union-attr]


@pytest.mark.parametrize("stage", list(DVC_YAML["stages"]))
def test_stage_code_deps_are_exactly_its_imports(stage):
    entry = ENTRY.get(stage, f"contrail.stages.{stage}")
    declared = {d for d in DVC_YAML["stages"][stage].get("deps", []) if d.startswith("src/")}
    expected = code_deps(entry)
    assert declared == expected, (
        f"dvc.yaml stage {stage!r}: missing {sorted(expected - declared)}, "
        f"extra {sorted(declared - expected)}"
    )


def test_every_stage_runs_its_own_contrail_command():
    for name, stage in DVC_YAML["stages"].items():
        assert stage["cmd"] == f"contrail {name}", name
