"""The container engine (docker or podman) and, through it, the image registry: the one module
that runs either.

The engine's output passes through as it comes (a push or a pull takes minutes); its stderr
goes straight to ours. Which engine is the caller's choice (CONTAINER_BACKEND); a registry's
credentials and plain-http settings are the engine's own configuration.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path


class ContainerError(RuntimeError):
    """The container engine failed, or could not start; the message names the command."""


def _run(engine: str, *args: str, quiet: bool = False) -> str:
    """Run `engine args...`; return its stdout, which also passes through unless `quiet`."""
    lines = []
    try:
        with subprocess.Popen([engine, *args], stdout=subprocess.PIPE, text=True) as process:
            assert process.stdout is not None
            for line in process.stdout:
                if not quiet:
                    sys.stdout.write(line)
                    sys.stdout.flush()
                lines.append(line)
    except OSError as exc:
        raise ContainerError(f"cannot run {engine}: {exc}") from None
    if process.returncode != 0:
        raise ContainerError(f"`{engine} {args[0]}` exited with {process.returncode}")
    return "".join(lines)


def tag(engine: str, source: str, target: str) -> None:
    _run(engine, "tag", source, target)


def push(engine: str, target: str) -> str:
    """Push `target`; return what the engine reports about the manifest the registry stored:
    podman's `--digestfile` (the digest alone), or docker's output (a `digest:` line).
    See contrail.release.image for why nothing else tells the stored digest."""
    if engine == "podman":
        with tempfile.TemporaryDirectory() as folder:
            digest_file = Path(folder) / "digest"
            _run(engine, "push", "--digestfile", str(digest_file), target)
            return digest_file.read_text(encoding="utf-8")
    return _run(engine, "push", target)


def pull(engine: str, image: str) -> None:
    """Pull `image`; by digest, the engine checks the content against it."""
    _run(engine, "pull", image)


def save(engine: str, image: str, archive: Path) -> None:
    """Write `image` to the archive file `archive` (what `kind load image-archive` reads)."""
    _run(engine, "save", "-o", str(archive), image)


def run_detached(engine: str, name: str, image: str, env: Mapping[str, str]) -> None:
    """Start `image` as container `name` on the host's network, removed once stopped."""
    variables = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
    _run(
        engine, "run", "--detach", "--rm", "--name", name, "--network", "host", *variables, image,
        quiet=True,
    )  # fmt: skip


def logs(engine: str, name: str) -> str:
    """Container `name`'s output so far, stdout and stderr together."""
    try:
        done = subprocess.run(
            [engine, "logs", name],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )
    except OSError as exc:
        raise ContainerError(f"cannot run {engine}: {exc}") from None
    if done.returncode != 0:
        raise ContainerError(f"`{engine} logs` exited with {done.returncode}")
    return done.stdout


def stop(engine: str, name: str) -> None:
    _run(engine, "stop", name, quiet=True)
