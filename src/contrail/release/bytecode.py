"""Bytecode in the image only for the modules the service imports (issue 18).

The image's venv is compiled to bytecode when it is built, since a read-only root filesystem
cannot cache it at run time; but the service imports about half of the modules installed
(2,094 of 4,099: 19 MB of bytecode it never runs). `benchmarks/image.py --write-imports` runs the image with every process recording
the modules it imports, makes the requests of the smoke test, and writes them all to
`image-imports.txt` beside this file; the image's build (deploy/docker/Dockerfile.j2) then runs
this file with the base image's Python (standard library only):

    python3 bytecode.py prune SITE_PACKAGES image-imports.txt

which deletes the bytecode of every module not listed, there and in the standard library.
Sources stay: a module imported that the list lacks (a newer dependency, a code path the smoke
test does not take) is compiled in memory, which costs start time, never correctness.
`bytecode.py missing SITE_PACKAGES LIST` names the listed modules with no bytecode there,
which the benchmark reports.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

IMPORTS_FILE = Path(__file__).with_name("image-imports.txt")


def read_imports(text: str) -> set[str]:
    """Module names, one a line; `#` comments and blank lines ignored."""
    return {line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")}


def bytecode_files(site_packages: Path) -> Iterator[tuple[str, Path]]:
    """Every `__pycache__/*.pyc` under site_packages, with the module it compiles."""
    for pyc in site_packages.rglob("__pycache__/*.pyc"):
        package = pyc.parent.parent.relative_to(site_packages).parts
        name = pyc.name.split(".", 1)[0]
        yield ".".join(package if name == "__init__" else (*package, name)), pyc


def prune(site_packages: Path, keep: set[str]) -> tuple[int, int]:
    """Delete the bytecode of modules not in `keep`; the number of files and bytes deleted."""
    files = size = 0
    for module, pyc in bytecode_files(site_packages):
        if module not in keep:
            size += pyc.stat().st_size
            pyc.unlink()
            files += 1
    return files, size


def _source(site_packages: Path, module: str) -> Path | None:
    base = site_packages.joinpath(*module.split("."))
    for source in (base / "__init__.py", base.with_name(base.name + ".py")):
        if source.is_file():
            return source
    return None


def missing(site_packages: Path, modules: Iterable[str]) -> list[str]:
    """The modules with a source under site_packages but no bytecode beside it."""
    absent = []
    for module in sorted(modules):
        source = _source(site_packages, module)
        if source is None:  # the standard library, an extension module, the Bento's own code
            continue
        if not (
            source.parent / "__pycache__" / f"{source.stem}.{sys.implementation.cache_tag}.pyc"
        ).is_file():
            absent.append(module)
    return absent


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] not in ("prune", "missing"):
        print("usage: bytecode.py prune|missing SITE_PACKAGES IMPORTS_FILE", file=sys.stderr)
        return 2
    command, site_packages, imports = argv[0], Path(argv[1]), Path(argv[2])
    modules = read_imports(imports.read_text())
    if command == "prune":
        files, size = prune(site_packages, modules)
        print(f"bytecode: deleted {files} files ({size / 1e6:.1f} MB) of modules never imported")
        return 0
    absent = missing(site_packages, modules)
    print("\n".join(absent))
    return 1 if absent else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
