"""Time the pipeline as a user meets it, next to the bare work it wraps.

Runs in a throwaway copy of the repository (git + DVC initialised there), so the working
tree and its DVC cache are untouched. Prints one table and the goals:
- cold `dvc repro` of the configured window (and each stage's share of it), a no-op
  `dvc repro`, and a `dvc repro` after changing only a model hyperparameter (with the stages
  that reran);
- the bare work in a separate process (start-up and imports counted): load the data, build
  features, fit and score the same model, with no DVC, reports or plots;
- a retraining commit (the window moved one month, `dvc repro`, commit): how many bytes it
  adds to git, compressed as git stores it.
Usage: python benchmarks/pipeline.py  (from the repository root; `make bench-pipeline`)
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
GOALS = {"cold": 2.0, "hyper": 2.0}  # at most this many times the bare process
NOOP_GOAL_S = 1.5
GIT_GOAL_BYTES = 200_000


def timed(repo: Path, *args: str) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run(args, cwd=repo, env=ENV, capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return time.perf_counter() - start, result.stdout + result.stderr


def bare() -> None:
    """The same model on the same window, with no DVC or any report (run as `--bare`)."""
    from sklearn.metrics import roc_auc_score

    from contrail.data import sources
    from contrail.features import LABEL, feature_table, split_train_test
    from contrail.model import fit
    from contrail.params import load_params

    params = load_params(ROOT / "params.yaml")
    window, _ = sources.split_window(sources.read_source(params.data.source), params.data)
    table = feature_table(window, params.features.columns, params.target.delay_minutes)
    train, test = split_train_test(window, table, params.data.end)
    model = fit(train, params)
    roc_auc_score(test[LABEL].to_numpy(dtype=int), model.predict_proba(test))


def edit_params(repo: Path, section: str, key: str, value: object) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params[section][key] = value
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=bench", "-c", "user.email=b@example.com", *args],
        cwd=repo, env=ENV, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip


def commit_bytes(repo: Path) -> int:
    """Compressed size of the objects HEAD adds to git (what a clone downloads for it)."""
    objects = git(repo, "rev-list", "--objects", "HEAD", "^HEAD~1")
    pack = subprocess.run(
        ["git", "pack-objects", "--stdout", "-q"],
        cwd=repo, input=objects.encode(), capture_output=True, check=True,
    )  # fmt: skip
    return len(pack.stdout)


def reran(output: str) -> str:
    return ", ".join(re.findall(r"Running stage '([\w-]+)'", output))


def stage_seconds(output: str) -> dict[str, float]:
    """Each stage's own time, as its `contrail <stage> done in N.Ns` line says."""
    return {
        name: float(s) for name, s in re.findall(r"contrail ([\w-]+) done in ([\d.]+)s", output)
    }


def main() -> None:
    bare_s, _ = timed(ROOT, sys.executable, str(Path(__file__).resolve()), "--bare")
    with tempfile.TemporaryDirectory(prefix="contrail-bench-") as tmp:
        repo = Path(tmp)
        for name in ("dvc.yaml", "params.yaml", ".dvcignore"):
            shutil.copy(ROOT / name, repo / name)
        for folder in ("src", "data/source"):
            shutil.copytree(
                ROOT / folder, repo / folder, ignore=shutil.ignore_patterns("__pycache__")
            )
        git(repo, "init", "-q")
        subprocess.run(["dvc", "init", "-q"], cwd=repo, env=ENV, check=True)
        shutil.copy(ROOT / ".dvc/config", repo / ".dvc/config")
        shutil.copytree(ROOT / ".dvc/plots", repo / ".dvc/plots")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "pipeline")
        cold, cold_out = timed(repo, "dvc", "repro")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "first model")
        noop, _ = timed(repo, "dvc", "repro")
        params = yaml.safe_load((repo / "params.yaml").read_text())
        edit_params(repo, "train", "learning_rate", params["train"]["learning_rate"] / 2)
        hyper, hyper_out = timed(repo, "dvc", "repro")
        git(repo, "checkout", "-q", "--", "params.yaml")
        timed(repo, "dvc", "checkout", "-q")
        end = params["data"]["end"]
        edit_params(repo, "data", "end", f"{end[:5]}{int(end[5:]) + 1:02d}")
        retrain, retrain_out = timed(repo, "dvc", "repro")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "retrain: window one month on")
        retrain_bytes = commit_bytes(repo)
    rows = [
        ("bare process: load, features, fit, score", bare_s, "separate process, no DVC"),
        ("cold dvc repro", cold, f"{cold / bare_s:.1f}x bare (goal <= {GOALS['cold']:.0f}x)"),
        ("no-op dvc repro", noop, f"goal <= {NOOP_GOAL_S} s"),
        (
            "dvc repro, one hyperparameter changed",
            hyper,
            f"{hyper / bare_s:.1f}x bare (goal <= {GOALS['hyper']:.0f}x); reran: {reran(hyper_out)}",
        ),
        ("dvc repro, window one month on", retrain, f"reran: {reran(retrain_out)}"),
    ]
    print(f"{'what':<42} {'seconds':>8}  notes")
    for what, seconds, note in rows:
        print(f"{what:<42} {seconds:8.1f}  {note}")
    print(
        f"git: the retraining commit adds {retrain_bytes / 1000:.0f} KB "
        f"(goal <= {GIT_GOAL_BYTES / 1000:.0f} KB)"
    )
    stages = stage_seconds(cold_out)
    print(
        "cold run by stage: "
        + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in stages.items())
        + f"; the rest (DVC, check-params, process start and exit) {cold - sum(stages.values()):.1f} s"
    )


if __name__ == "__main__":
    bare() if sys.argv[1:] == ["--bare"] else main()
