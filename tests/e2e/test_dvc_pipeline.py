"""`dvc repro` end to end in a throwaway git repository, on a small CSV cut from the real data.

One repository is built per module and the tests run in file order, each leaving it as found:
reproducible metrics, selective reruns, DVC's experiment/diff commands, and failures that
keep the last good model and reports.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
MODEL = Path("models/model.joblib")
METRICS = Path("reports/evaluation/metrics.json")
DRIFT = Path("reports/drift.json")
SOURCE = Path("data/source/flights.csv")


def run(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.com",
    }  # fmt: skip
    result = subprocess.run(args, cwd=repo, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def edit_params(repo: Path, section: str, key: str, value: object) -> None:
    path = repo / "params.yaml"
    params = yaml.safe_load(path.read_text())
    params[section][key] = value
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def repo(tmp_path_factory, raw_sample) -> Path:
    """A git + DVC repository with the project's pipeline, reproduced once and committed."""
    repo = tmp_path_factory.mktemp("pipeline")
    for name in ("dvc.yaml", "params.yaml", ".dvcignore"):
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
    # dvclive (evaluate stage) needs a commit to exist, as any cloned project has.
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-qm", "pipeline")
    run(repo, "dvc", "repro")
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-qm", "baseline run")
    return repo


def tracked_outputs(repo: Path) -> dict[str, str]:
    """sha256 of dvc.lock and of every file it records as a stage output."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    outs = [o["path"] for stage in lock["stages"].values() for o in stage.get("outs", [])]
    files = [
        f
        for out in outs
        for f in ([repo / out] if (repo / out).is_file() else sorted((repo / out).rglob("*")))
    ]
    return {str(f.relative_to(repo)): digest(f) for f in [repo / "dvc.lock", *files]}


def test_repro_is_deterministic_and_leaves_git_clean(repo):
    assert json.loads((repo / METRICS).read_text())["model"]["roc_auc"] > 0.6
    first = tracked_outputs(repo)
    run(repo, "dvc", "repro", "--force")
    assert tracked_outputs(repo) == first
    assert run(repo, "git", "status", "--porcelain").stdout == ""
    assert "up to date" in run(repo, "dvc", "status").stdout


def test_editing_one_stage_module_invalidates_only_that_stage(repo):
    module = repo / "src/contrail/stages/drift.py"
    original = module.read_text()
    module.write_text(original + "# a comment\n")
    status = json.loads(run(repo, "dvc", "status", "--json").stdout)
    module.write_text(original)
    assert set(status) == {"drift"}


def test_misspelt_params_section_stops_repro_naming_it(repo):
    path = repo / "params.yaml"
    original = path.read_text()
    path.write_text(original + "trian:\n  learning_rate: 0.05\n")  # meant `train:`
    result = run(repo, "dvc", "repro", check=False)
    path.write_text(original)
    assert result.returncode != 0
    assert "trian: Extra inputs are not permitted" in result.stderr


def test_hyperparameter_experiment_reruns_only_dependent_stages(repo):
    output = run(repo, "dvc", "exp", "run", "--set-param", "train.learning_rate=0.2").stdout
    # check-params validates the whole file after any change to it; the rest is exact.
    assert set(re.findall(r"Running stage '([\w-]+)'", output)) == {
        "check-params",
        "train",
        "evaluate",
    }
    experiments = json.loads(run(repo, "dvc", "exp", "show", "--json").stdout)
    assert "model" in json.dumps(experiments) and "roc_auc" in json.dumps(experiments)
    (name,) = run(repo, "dvc", "exp", "ls", "--name-only").stdout.split()
    run(repo, "dvc", "exp", "apply", name)
    run(repo, "git", "commit", "-qam", "faster learning rate")
    params_diff = json.loads(run(repo, "dvc", "params", "diff", "HEAD~1", "--json").stdout)
    change = params_diff["params.yaml"]["train.learning_rate"]
    assert (change["old"], change["new"]) == (0.1, 0.2)
    metrics_diff = json.loads(run(repo, "dvc", "metrics", "diff", "HEAD~1", "--json").stdout)
    assert "model.roc_auc" in metrics_diff[str(METRICS)]
    assert "ROC" in run(repo, "dvc", "plots", "diff", "HEAD~1", "--json").stdout
    run(repo, "git", "reset", "-q", "--hard", "HEAD~1")
    run(repo, "dvc", "checkout", "-q")


def test_corrupted_data_fails_validation_and_keeps_the_model(repo):
    model, metrics = digest(repo / MODEL), (repo / METRICS).read_text()
    source = repo / SOURCE
    original = source.read_text()
    source.write_text(original.replace(",UA,", ",U@,", 3))
    result = run(repo, "dvc", "repro", check=False)
    source.write_text(original)
    assert result.returncode != 0
    assert "carrier: isin" in result.stderr
    assert "carrier: isin" in (repo / "reports/validation.md").read_text()
    assert digest(repo / MODEL) == model
    assert (repo / METRICS).read_text() == metrics
    run(repo, "dvc", "repro")  # back to the good data: only ingest and validate rerun


def test_bad_params_fail_naming_the_key_and_keep_the_model(repo):
    model = digest(repo / MODEL)
    edit_params(repo, "train", "max_iterr", 5)
    result = run(repo, "dvc", "repro", check=False)
    run(repo, "git", "checkout", "params.yaml")
    assert result.returncode != 0
    assert "train.max_iterr: Extra inputs are not permitted" in result.stderr
    assert digest(repo / MODEL) == model
    assert "up to date" in run(repo, "dvc", "status").stdout
