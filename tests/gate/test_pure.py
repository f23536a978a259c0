"""The gate package decides and never touches the world: its tests need no fake at all, and a
rule cannot start reading files or calling GitHub unnoticed."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

GATE = Path(__file__).resolve().parents[2] / "src" / "contrail" / "gate"
# Transports, file and process I/O: what `contrail.gate_run` does for the gate.
FORBIDDEN = ("contrail.transports", "contrail.io", "contrail.report.revision", "subprocess",
             "urllib", "os", "pathlib", "shutil")  # fmt: skip


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", sorted(GATE.glob("*.py")), ids=lambda p: p.name)
def test_a_gate_module_imports_no_transport_and_no_io(path):
    forbidden = {
        name
        for name in imports(path)
        if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN)
    }
    assert not forbidden, f"{path.name} imports {sorted(forbidden)}"
