"""A DVC remote round trip through the real `make push` and `make repro`, on a local-path remote.

One repository reproduces the pipeline on a small CSV and pushes its outputs and run cache
(`make push`); a `git clone` of it then runs `make repro` against the same remote: nothing
reruns, the outputs arrive byte for byte, and after a hyperparameter change only the stages
that read it run; against an empty remote the stages run instead. A local path needs no plugin, so `make` never calls uv here; the targets
run against this test's own environment (`VENV=`, with `-o` so `make setup` is not redone).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV = Path(sys.executable).parent.parent
SOURCE = Path("data/source/flights.csv")
MODEL = Path("models/model.joblib")
METRICS = Path("reports/evaluation/metrics.json")
STAGES = {"check-params", "ingest", "validate", "features", "train", "evaluate", "drift"}


def run(
    repo: Path, *args: str, remote: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.com",
    }  # fmt: skip
    env.pop("DVC_REMOTE_URL", None)
    if remote is not None:
        env["DVC_REMOTE_URL"] = str(remote)
    result = subprocess.run(args, cwd=repo, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def make(repo: Path, target: str, remote: Path) -> subprocess.CompletedProcess[str]:
    return run(
        repo, "make", "--no-print-directory", "-o", f"{VENV}/.synced", f"VENV={VENV}", target,
        remote=remote,
    )  # fmt: skip


def stages_run(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([\w-]+)'", output))


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def outputs(repo: Path) -> dict[str, str]:
    """md5 of every file dvc.lock records as a stage output, and of dvc.lock itself."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    outs = [o["path"] for stage in lock["stages"].values() for o in stage.get("outs", [])]
    files = [
        f
        for out in outs
        for f in ([repo / out] if (repo / out).is_file() else sorted((repo / out).rglob("*")))
    ]
    return {str(f.relative_to(repo)): md5(f) for f in [repo / "dvc.lock", *files]}


@pytest.fixture(scope="module")
def remote(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("remote") / "store"


@pytest.fixture(scope="module")
def origin(tmp_path_factory, raw_sample, remote) -> Path:
    """The pipeline reproduced once, committed, and pushed with `make push`."""
    repo = tmp_path_factory.mktemp("origin")
    for name in ("dvc.yaml", "params.yaml", ".dvcignore", "Makefile"):
        shutil.copy(REPO_ROOT / name, repo / name)
    for folder in ("src", "data/source"):
        shutil.copytree(
            REPO_ROOT / folder, repo / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    raw_sample.to_csv(repo / SOURCE, index=False)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["data"].update(source=str(SOURCE), start="2013-01", end="2013-03")
    params["evaluate"].update(bootstrap_samples=100, importance_rows=1000)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(repo, "git", "init", "-q", "-b", "main")
    run(repo, "dvc", "init", "-q")
    shutil.copytree(REPO_ROOT / ".dvc/plots", repo / ".dvc/plots")  # custom plot templates
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-qm", "pipeline")  # dvclive (evaluate) needs a commit
    run(repo, "dvc", "repro")
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-qm", "baseline run")
    started = time.perf_counter()
    make(repo, "push", remote)
    print(f"make push: {time.perf_counter() - started:.1f}s")
    return repo


@pytest.fixture(scope="module")
def clone(tmp_path_factory, origin) -> Path:
    """A fresh `git clone` of the origin: code, params and dvc.lock, no outputs, no cache."""
    clone = tmp_path_factory.mktemp("clone") / "repo"
    run(origin.parent, "git", "clone", "-q", str(origin), str(clone))
    assert not (clone / MODEL).exists()
    assert not (clone / ".dvc/config.local").exists()  # the remote is set by `make repro`
    return clone


def test_make_push_fills_the_remote_with_every_cached_output(origin, remote):
    # Every stage output is `persist: true`, which DVC keeps out of the run cache: `--run-cache`
    # pushes no runs/, and none are needed, since dvc.lock names each output's hash.
    assert (remote / "files/md5").is_dir()
    assert "in sync" in run(origin, "dvc", "status", "--cloud").stdout
    assert run(origin, "git", "status", "--porcelain").stdout == ""


def test_clone_pulls_every_output_and_reruns_nothing(origin, clone, remote):
    started = time.perf_counter()
    result = make(clone, "repro", remote)
    print(f"make repro (clone, all pulled): {time.perf_counter() - started:.1f}s")
    assert stages_run(result.stdout + result.stderr) == set()
    assert md5(clone / MODEL) == md5(origin / MODEL)
    assert outputs(clone) == outputs(origin)
    assert run(clone, "git", "status", "--porcelain").stdout == ""
    assert "up to date" in run(clone, "dvc", "status").stdout


def test_a_hyperparameter_change_in_the_clone_reruns_only_its_stages(origin, clone, remote):
    path = clone / "params.yaml"
    params = yaml.safe_load(path.read_text())
    params["train"]["learning_rate"] = 0.2
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    started = time.perf_counter()
    result = make(clone, "repro", remote)
    print(f"make repro (clone, learning_rate changed): {time.perf_counter() - started:.1f}s")
    # check-params validates the whole file after any change to it; the rest is exact.
    assert stages_run(result.stdout + result.stderr) == {"check-params", "train", "evaluate"}
    assert md5(clone / MODEL) != md5(origin / MODEL)
    kept = {k: v for k, v in outputs(origin).items() if k.startswith(("data/", "reports/drift"))}
    assert kept and kept.items() <= outputs(clone).items()


def test_an_empty_remote_makes_repro_run_the_stages_instead(tmp_path, origin):
    """The first run against a new remote: nothing to pull, so the stages run."""
    clone = tmp_path / "repo"
    run(origin.parent, "git", "clone", "-q", str(origin), str(clone))
    started = time.perf_counter()
    result = make(clone, "repro", tmp_path / "empty-store")
    print(f"make repro (clone, empty remote): {time.perf_counter() - started:.1f}s")
    # validate and evaluate write only git-tracked outputs (`cache: false`): nothing is missing.
    assert stages_run(result.stdout + result.stderr) == {"ingest", "features", "train", "drift"}
    assert outputs(clone) == outputs(origin)
