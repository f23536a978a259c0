"""The release record's I/O: GTO's history and tags, and committed files read with `git show`.

Everything a decision needs is read at a commit (dvc.lock, the model card, the metrics file
are all committed), never from the workspace, so a dirty checkout cannot leak into a release.
Tags are written by the `gto` of this environment, which checks names, SemVer and the stages
in `.gto`; they are pushed with `git push origin refs/tags/<tag>`, which is also how a re-run
pushes a tag a failed run created but did not push. git and GTO run through
`contrail.transports.git`, whose `GitError` is this module's outside failure.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from contrail import paths
from contrail.identity import MODEL_NAME
from contrail.release.versions import (
    Assignment,
    ModelState,
    Registration,
    ReleaseError,
)
from contrail.transports import git
from contrail.transports.git import GitError

if TYPE_CHECKING:
    from contrail.metrics import Evaluation

MODEL_FILE = "models/model.joblib"
MODEL_CARD = "models/model.json"
DATA_FILE = paths.RAW_WINDOW.as_posix()
LOCK_FILE = "dvc.lock"


def resolve(repo: Path, rev: str) -> str:
    commit = git.commit_of(repo, rev)
    if commit is None:
        raise ReleaseError(f"unknown revision {rev!r}")
    return commit


def show(repo: Path, commit: str, path: str) -> str:
    text = git.show(repo, commit, path)
    if text is None:
        raise ReleaseError(f"{path} is not committed at {commit[:12]}: run and commit the pipeline")
    return text


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
    printed = git.gto(repo, "history", MODEL_NAME, "--json")
    try:
        events = json.loads(printed)
    except json.JSONDecodeError:
        last = printed.strip().splitlines()[-1] if printed.strip() else "nothing"
        raise GitError(f"gto history printed no JSON: {last}") from None
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


def register(repo: Path, commit: str, version: str, message: str) -> str:
    """Create the annotated version tag; its name."""
    git.gto(repo, "register", MODEL_NAME, commit, "--version", version, "--message", message)
    return f"{MODEL_NAME}@{version}"


def assign(repo: Path, stage: str, version: str, message: str, force: bool) -> str:
    """Create the annotated stage tag; its name (read back: GTO numbers it)."""
    args = ["assign", MODEL_NAME, "--version", version, "--stage", stage, "--message", message]
    git.gto(repo, *args, *(["--force"] if force else []))
    _, assignments = history(repo)
    mine = [a for a in assignments if a.stage == stage and a.version == version]
    if not mine:
        raise GitError(f"gto assign made no {stage} tag for {version}")
    return max(mine, key=lambda a: a.counter).tag


def push(repo: Path, tag: str) -> None:
    """Push one tag to origin (an identical tag already there is fine)."""
    git.push(repo, "origin", f"refs/tags/{tag}")
