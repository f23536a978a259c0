"""The release record's I/O: GTO's history and tags, and committed files read with `git show`.

Everything a decision needs is read at a commit (dvc.lock, the model card, the metrics file
are all committed), never from the workspace, so a dirty checkout cannot leak into a release.
Tags are written by the `gto` of this environment, which checks names, SemVer and the stages
in `.gto`; they are pushed with `git push origin refs/tags/<tag>`, which is also how a re-run
pushes a tag a failed run created but did not push.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from contrail import paths
from contrail.release.decide import (
    ARTIFACT,
    Assignment,
    ModelState,
    Registration,
    ReleaseError,
)

if TYPE_CHECKING:
    from contrail.metrics import Evaluation

MODEL_FILE = "models/model.joblib"
MODEL_CARD = "models/model.json"
DATA_FILE = paths.RAW_WINDOW.as_posix()
LOCK_FILE = "dvc.lock"


class RegistryError(RuntimeError):
    """git or GTO failed (not a bad input); the message has their last line."""


def _run(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=repo, capture_output=True, text=True, check=False)


def _last_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    return lines[-1] if lines else f"exit code {done.returncode}"


def _gto() -> str:
    """The `gto` installed beside this Python (the locked one), else the one on PATH."""
    beside = Path(sys.executable).parent / "gto"
    if beside.exists():
        return str(beside)
    found = shutil.which("gto")
    if found is None:
        raise RegistryError("gto is not installed in this environment (`make setup`)")
    return found


def git(repo: Path, *args: str) -> str:
    done = _run(repo, "git", *args)
    if done.returncode != 0:
        raise RegistryError(f"git {' '.join(args[:2])} failed: {_last_line(done)}")
    return done.stdout


def resolve(repo: Path, rev: str) -> str:
    done = _run(repo, "git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if done.returncode != 0:
        raise ReleaseError(f"unknown revision {rev!r}")
    return done.stdout.strip()


def show(repo: Path, commit: str, path: str) -> str:
    done = _run(repo, "git", "show", f"{commit}:{path}")
    if done.returncode != 0:
        raise ReleaseError(f"{path} is not committed at {commit[:12]}: run and commit the pipeline")
    return done.stdout


def _lock_md5(lock: Any, path: str) -> str | None:
    stages = lock.get("stages", {}) if isinstance(lock, dict) else {}
    for stage in stages.values():
        for out in stage.get("outs", []) or []:
            if out.get("path") == path and "md5" in out:
                return str(out["md5"])
    return None


def model_state(repo: Path, commit: str) -> ModelState:
    """The model md5 and data md5 from dvc.lock and the card's features and window, at
    `commit`."""
    lock = yaml.safe_load(show(repo, commit, LOCK_FILE))
    md5 = _lock_md5(lock, MODEL_FILE)
    if md5 is None:
        raise ReleaseError(f"{LOCK_FILE} at {commit[:12]} records no {MODEL_FILE}")
    try:
        card = json.loads(show(repo, commit, MODEL_CARD))
        return ModelState(
            md5=md5,
            features=tuple(card["features"]),
            train_start=str(card["train_start"]),
            train_end=str(card["train_end"]),
            data_md5=_lock_md5(lock, DATA_FILE),
        )
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ReleaseError(f"{MODEL_CARD} at {commit[:12]} is not a model card: {exc}") from None


def evaluation(repo: Path, commit: str) -> Evaluation:
    from contrail.metrics import Evaluation, MetricsFormatError

    path = paths.METRICS.as_posix()
    try:
        return Evaluation.from_json(json.loads(show(repo, commit, path)), path)
    except (json.JSONDecodeError, MetricsFormatError) as exc:
        raise ReleaseError(str(exc)) from None


def history(repo: Path) -> tuple[list[Registration], list[Assignment]]:
    """The artifact's registered versions and stage assignments, from `gto history --json`.

    A deregistered version (`@vX.Y.Z!`) is left out. contrail never unassigns or deprecates:
    such tags, made by hand, are ignored."""
    done = _run(repo, _gto(), "history", ARTIFACT, "--json")
    if done.returncode != 0:
        raise RegistryError(f"gto history failed: {_last_line(done)}")
    try:
        events = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise RegistryError(f"gto history printed no JSON: {_last_line(done)}") from None
    registrations: dict[str, Registration] = {}
    deregistered: set[str] = set()
    assignments: list[Assignment] = []
    for event in events:
        kind, version, ref = event.get("event"), event.get("version"), str(event.get("ref"))
        if kind == "registration":
            registrations[version] = Registration(
                version, event["commit"], ref, event.get("message") or ""
            )
        elif kind == "deregistration":
            deregistered.add(version)
        elif kind == "assignment":
            counter = ref.rsplit("#", 1)[-1]
            assignments.append(
                Assignment(event["stage"], version, int(counter) if counter.isdigit() else 0, ref)
            )
    return [r for v, r in registrations.items() if v not in deregistered], assignments


def _gto_write(repo: Path, *args: str) -> None:
    done = _run(repo, _gto(), *args)
    if done.returncode != 0:
        raise RegistryError(f"gto {args[0]} failed: {_last_line(done).lstrip('❌ ')}")


def register(repo: Path, commit: str, version: str, message: str) -> str:
    """Create the annotated version tag; its name."""
    _gto_write(repo, "register", ARTIFACT, commit, "--version", version, "--message", message)
    return f"{ARTIFACT}@{version}"


def assign(repo: Path, stage: str, version: str, message: str, force: bool) -> str:
    """Create the annotated stage tag; its name (read back: GTO numbers it)."""
    args = ["assign", ARTIFACT, "--version", version, "--stage", stage, "--message", message]
    _gto_write(repo, *args, *(["--force"] if force else []))
    _, assignments = history(repo)
    mine = [a for a in assignments if a.stage == stage and a.version == version]
    if not mine:
        raise RegistryError(f"gto assign made no {stage} tag for {version}")
    return max(mine, key=lambda a: a.counter).tag


def push(repo: Path, tag: str) -> None:
    """Push one tag to origin (an identical tag already there is fine)."""
    git(repo, "push", "--quiet", "origin", f"refs/tags/{tag}")
