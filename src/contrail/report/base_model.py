"""The base revision's model, so that both models can be scored on the pull request's test rows.

The gate judges nothing else, so the model is obtained whatever CI had at hand: from the local
DVC cache (restored by actions/cache), else the configured DVC remote, else rebuilt from the
base commit the way a fresh clone would (a temporary `git worktree` sharing this repository's
DVC cache, `dvc repro` of the stage that writes the model, run with the base's own code). The
pipeline is deterministic, so the rebuilt file should be byte-identical to the one the base's
dvc.lock records; `BaseModel.source` says whether it is.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from contrail import paths
from contrail.model import TrainedModel
from contrail.model_card import CARD_FILE, PIPELINE_FILE, ModelCard
from contrail.report.revision import REPO, ReportError, git_json, git_text
from contrail.transports import git
from contrail.transports.git import GitError

MODEL_FILE = paths.MODEL_DIR / PIPELINE_FILE
LOCK_FILE = Path("dvc.lock")
# The base's dependencies: when this file is the same at both revisions, so is the environment.
ENVIRONMENT_LOCK = Path("uv.lock")


class Unavailable(ReportError):
    """The base model is in no cache or remote and could not be rebuilt: the gate cannot
    decide. The message says why."""


@dataclass(frozen=True)
class Recorded:
    """What the base's dvc.lock says about its model: the stage writing it and its md5."""

    stage: str
    md5: str


@dataclass(frozen=True)
class BaseModel:
    model: TrainedModel
    # Where it came from, as a phrase: "… `main`'s model {source}."
    source: str


def recorded(sha: str) -> Recorded | None:
    """The model entry of dvc.lock at `sha`; None when the base never produced a model."""
    text = git_text(sha, LOCK_FILE)
    if text is None:
        return None
    try:
        lock = yaml.safe_load(text)
        for stage, entry in lock["stages"].items():
            for out in entry.get("outs", []):
                if Path(out["path"]) == MODEL_FILE:
                    return Recorded(stage, str(out["md5"]))
    except (yaml.YAMLError, KeyError, TypeError, AttributeError) as exc:
        raise Unavailable(f"its {LOCK_FILE} cannot be read ({type(exc).__name__}: {exc})") from None
    return None


def card(sha: str) -> ModelCard:
    """The base model's card (committed: `cache: false`), read before fetching the model: a
    model pickled by another scikit-learn cannot be scored here wherever it comes from."""
    content = git_json(sha, paths.MODEL_DIR / CARD_FILE)
    if content is None:
        raise Unavailable(f"it has no {paths.MODEL_DIR / CARD_FILE} beside its {LOCK_FILE} entry")
    try:
        return ModelCard(**content)
    except TypeError:
        raise Unavailable(f"its {paths.MODEL_DIR / CARD_FILE} has another format") from None


def obtain(sha: str, entry: Recorded, model_card: ModelCard) -> BaseModel:
    """The model at `sha`: from the DVC cache or remote, else rebuilt."""
    import joblib

    try:
        stored = git.dvc_read(REPO, MODEL_FILE.as_posix(), sha)
    except GitError:
        pass  # not there, or the remote cannot be reached: rebuild it
    else:
        return BaseModel(
            TrainedModel(joblib.load(io.BytesIO(stored)), model_card),
            "from the DVC cache or remote",
        )
    try:
        return rebuild(sha, entry)
    except Unavailable as exc:
        raise Unavailable(f"it is in neither the DVC cache nor a DVC remote, and {exc}") from None


def rebuild(sha: str, entry: Recorded) -> BaseModel:
    """`dvc repro` of the model's stage in a temporary worktree of `sha`, which is removed
    afterwards. Its outputs land in this repository's DVC cache, so the next reader of the
    same model (`contrail gate --record` after `contrail report`) finds it there."""
    with tempfile.TemporaryDirectory(prefix="contrail-base-") as scratch:
        tree = Path(scratch) / "base"
        try:
            git.git(REPO, "worktree", "add", "--detach", "--quiet", str(tree), sha)
        except GitError as exc:
            raise Unavailable(f"rebuilding it failed: `git worktree add`: {exc.tail(3)}") from None
        try:
            return _repro(tree, sha, entry)
        finally:
            # Failing is harmless: the directory is removed anyway and git prunes its record.
            with contextlib.suppress(GitError):
                git.git(REPO, "worktree", "remove", "--force", str(tree))


def _repro(tree: Path, sha: str, entry: Recorded) -> BaseModel:
    command, env = _base_code(sha, tree)
    try:
        cache = git.dvc(REPO, "cache", "dir").strip()
    except GitError as exc:
        raise Unavailable(f"rebuilding it failed: `dvc cache dir`: {exc.tail(3)}") from None
    steps = (
        ("config", "--local", "cache.dir", cache),
        # What the shared cache already has (upstream stages, DVC-tracked sources) is checked
        # out, not recomputed; a partial checkout is expected and not an error.
        ("checkout",),
        ("repro", entry.stage),
    )
    for args in steps:
        try:
            git.dvc(tree, *args, command=command, env=env)
        except GitError as exc:
            # Three lines: after a stage fails, DVC's summary comes last and the stage's own
            # message (the reason) just before it.
            if args[0] != "checkout":
                raise Unavailable(
                    f"rebuilding it from {sha[:8]} failed: `dvc {' '.join(args)}`: {exc.tail(3)}"
                ) from None
    md5 = hashlib.md5((tree / MODEL_FILE).read_bytes()).hexdigest()
    model = TrainedModel.load(tree / paths.MODEL_DIR)
    if md5 == entry.md5:
        return BaseModel(model, f"rebuilt from {sha[:8]}, identical to its {LOCK_FILE} (md5 {md5})")
    return BaseModel(
        model,
        f"rebuilt from {sha[:8]}, but not identical to the model its {LOCK_FILE} records "
        f"(md5 {md5}, recorded {entry.md5}): the pipeline did not reproduce it exactly",
    )


def _base_code(sha: str, tree: Path) -> tuple[list[str], dict[str, str]]:
    """The command running DVC, and so the stages' `contrail` commands, with the base's code.

    With the same uv.lock at both revisions this environment is the base's, and only the code
    differs: PYTHONPATH puts the worktree's src/ ahead of the installed (editable) contrail.
    Otherwise `uv run --frozen` builds the base's own locked environment in the worktree."""
    workspace_lock = ENVIRONMENT_LOCK.read_text() if ENVIRONMENT_LOCK.exists() else None
    if git_text(sha, ENVIRONMENT_LOCK) == workspace_lock:
        path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
        source = os.pathsep.join(filter(None, [str(tree / "src"), os.environ.get("PYTHONPATH")]))
        return list(git.DVC), {**os.environ, "PATH": path, "PYTHONPATH": source}
    uv = shutil.which("uv")
    if uv is None:
        raise Unavailable(
            f"rebuilding it with its own dependencies (its {ENVIRONMENT_LOCK} differs from this "
            "checkout's) needs `uv` on PATH"
        )
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    return [uv, "run", "--frozen", "--no-dev", "python", "-m", "dvc"], env
