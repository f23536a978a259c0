"""The image keeps bytecode only for the modules the service imports (contrail/release/bytecode.py):
the pruning the image's build runs, the check the image benchmark runs, the committed list."""

from __future__ import annotations

import compileall
import subprocess
import sys
from pathlib import Path

import pytest

from contrail.release import bytecode


@pytest.fixture
def site_packages(tmp_path: Path) -> Path:
    """pkg (a package with a used and an unused module, and an unused subpackage), a used
    top-level module and an unused one, all compiled as the image's venv is."""
    root = tmp_path / "site-packages"
    for name in ("pkg/__init__.py", "pkg/used.py", "pkg/unused.py", "pkg/sub/__init__.py"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("X = 1\n")
    (root / "top.py").write_text("X = 1\n")
    (root / "other.py").write_text("X = 1\n")
    assert compileall.compile_dir(root, quiet=1)
    return root


def pyc(root: Path, source: str) -> Path:
    path = root / source
    return path.parent / "__pycache__" / f"{path.stem}.{sys.implementation.cache_tag}.pyc"


def test_the_imports_file_ignores_comments_and_blank_lines():
    text = "# written by benchmarks/image.py\n\npkg\n  pkg.used \n"
    assert bytecode.read_imports(text) == {"pkg", "pkg.used"}


def test_bytecode_files_name_their_modules(site_packages):
    modules = {module for module, _ in bytecode.bytecode_files(site_packages)}
    assert modules == {"pkg", "pkg.used", "pkg.unused", "pkg.sub", "top", "other"}


def test_prune_deletes_the_bytecode_of_modules_not_listed_and_keeps_every_source(site_packages):
    sources = sorted(site_packages.rglob("*.py"))
    files, size = bytecode.prune(site_packages, {"pkg", "pkg.used", "top"})
    assert files == 3 and size > 0
    for kept in ("pkg/__init__.py", "pkg/used.py", "top.py"):
        assert pyc(site_packages, kept).is_file()
    for gone in ("pkg/unused.py", "pkg/sub/__init__.py", "other.py"):
        assert not pyc(site_packages, gone).exists()
    assert sorted(site_packages.rglob("*.py")) == sources


def test_missing_names_listed_modules_without_bytecode_and_skips_what_is_elsewhere(site_packages):
    pyc(site_packages, "pkg/used.py").unlink()
    # json: the standard library; _io: built in; neither has a source here.
    assert bytecode.missing(site_packages, {"pkg", "pkg.used", "top", "json", "_io"}) == [
        "pkg.used"
    ]


def test_the_image_build_runs_it_as_a_script_with_no_contrail_on_the_path(site_packages, tmp_path):
    """As the Dockerfile does, with the base image's Python: only the standard library."""
    imports = tmp_path / "image-imports.txt"
    imports.write_text("# header\npkg\ntop\n")
    script = Path(bytecode.__file__)
    prune = subprocess.run(
        [sys.executable, "-I", str(script), "prune", str(site_packages), str(imports)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert prune.returncode == 0, prune.stderr
    assert prune.stdout.startswith("bytecode: deleted 4 files")
    missing = subprocess.run(
        [sys.executable, "-I", str(script), "missing", str(site_packages), str(imports)],
        capture_output=True,
        text=True,
    )
    assert (missing.returncode, missing.stdout.strip()) == (0, "")
    imports.write_text("pkg.unused\n")
    missing = subprocess.run(
        [sys.executable, "-I", str(script), "missing", str(site_packages), str(imports)],
        capture_output=True,
        text=True,
    )
    assert (missing.returncode, missing.stdout.strip()) == (1, "pkg.unused")


def test_the_committed_list_holds_what_every_worker_imports():
    listed = bytecode.read_imports(bytecode.IMPORTS_FILE.read_text())
    assert {
        "bentoml",
        "_bentoml_impl.worker.service",
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting",
        "pandas",
        "uvicorn",
    } <= listed
