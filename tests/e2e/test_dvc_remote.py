"""A DVC remote round trip through the real `make push` and `make repro`, on a local-path remote.

One repository reproduces the pipeline on a small CSV and pushes its outputs and run cache
(`make push`); a `git clone` of it then runs `make repro` against the same remote: nothing
reruns, the outputs arrive byte for byte, and after a hyperparameter change only the stages
that read it run; against an empty remote the stages run instead. A local path needs no plugin, so `make` never calls uv here; the targets
run against this test's own environment (`VENV=`, with `-o` so `make setup` is not redone).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from support.pipeline_repo import digest, reproduced_repo, run, tracked_outputs

pytestmark = pytest.mark.e2e

VENV = Path(sys.executable).parent.parent
MODEL = Path("models/model.joblib")
METRICS = Path("reports/evaluation/metrics.json")


def make(repo: Path, target: str, remote: Path) -> subprocess.CompletedProcess[str]:
    return run(
        repo, "make", "--no-print-directory", "-o", f"{VENV}/.synced", f"VENV={VENV}", target,
        env={"DVC_REMOTE_URL": str(remote)},
    )  # fmt: skip


def stages_run(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([\w-]+)'", output))


@pytest.fixture(scope="module")
def remote(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("remote") / "store"


@pytest.fixture(scope="module")
def origin(tmp_path_factory, raw_sample, remote) -> Path:
    """The pipeline reproduced once, committed, and pushed with `make push`."""
    repo = reproduced_repo(tmp_path_factory.mktemp("origin"), raw_sample, ("Makefile",))
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
    assert digest(clone / MODEL) == digest(origin / MODEL)
    assert tracked_outputs(clone) == tracked_outputs(origin)
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
    assert digest(clone / MODEL) != digest(origin / MODEL)
    kept = {
        k: v for k, v in tracked_outputs(origin).items() if k.startswith(("data/", "reports/drift"))
    }
    assert kept and kept.items() <= tracked_outputs(clone).items()


def test_an_empty_remote_makes_repro_run_the_stages_instead(tmp_path, origin):
    """The first run against a new remote: nothing to pull, so the stages run."""
    clone = tmp_path / "repo"
    run(origin.parent, "git", "clone", "-q", str(origin), str(clone))
    started = time.perf_counter()
    result = make(clone, "repro", tmp_path / "empty-store")
    print(f"make repro (clone, empty remote): {time.perf_counter() - started:.1f}s")
    # evaluate and drift write only git-tracked outputs (`cache: false`): nothing is missing.
    assert stages_run(result.stdout + result.stderr) == {"ingest", "features", "train"}
    assert tracked_outputs(clone) == tracked_outputs(origin)
