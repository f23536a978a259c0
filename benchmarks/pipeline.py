"""Time the pipeline as a user meets it, next to the bare work it wraps.

Runs in a throwaway copy of the repository (git + DVC initialised there), so the working
tree and its DVC cache are untouched. Prints one table:
  cold `dvc repro` of the configured window, a no-op `dvc repro`, a `dvc repro` after
  changing only a model hyperparameter (and which stages reran), and an in-process
  load + features + fit + evaluate of the same model with no DVC, reports or plots.
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


def timed(repo: Path, *args: str) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run(args, cwd=repo, env=ENV, capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"{' '.join(args)} failed:\n{result.stderr}")
    return time.perf_counter() - start, result.stdout


def bare_fit_and_evaluate() -> float:
    """The same model on the same window, in one process, without DVC or any report."""
    from sklearn.metrics import roc_auc_score

    from contrail.data import sources
    from contrail.features import LABEL, feature_table, split_train_test
    from contrail.model import fit
    from contrail.params import load_params

    start = time.perf_counter()
    params = load_params(ROOT / "params.yaml")
    window, _ = sources.split_window(sources.read_source(params.data.source), params.data)
    table = feature_table(window, params.features.columns, params.target.delay_minutes)
    train, test = split_train_test(window, table, params.data.end)
    model = fit(train, params)
    roc_auc_score(test[LABEL].to_numpy(dtype=int), model.predict_proba(test))
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="contrail-bench-") as tmp:
        repo = Path(tmp)
        for name in ("dvc.yaml", "params.yaml", ".dvcignore"):
            shutil.copy(ROOT / name, repo / name)
        for folder in ("src", "data/source"):
            shutil.copytree(
                ROOT / folder, repo / folder, ignore=shutil.ignore_patterns("__pycache__")
            )
        for args in (
            ("git", "init", "-q"),
            ("dvc", "init", "-q"),
            ("git", "add", "-A"),
            (
                "git",
                "-c",
                "user.name=bench",
                "-c",
                "user.email=b@example.com",
                "commit",
                "-qm",
                "x",
            ),
        ):
            subprocess.run(args, cwd=repo, env=ENV, check=True)
        cold, _ = timed(repo, "dvc", "repro")
        noop, _ = timed(repo, "dvc", "repro")
        params = yaml.safe_load((repo / "params.yaml").read_text())
        params["train"]["learning_rate"] = params["train"]["learning_rate"] / 2
        (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        hyper, output = timed(repo, "dvc", "repro")
        reran = re.findall(r"Running stage '(\w+)'", output)
    bare = bare_fit_and_evaluate()
    rows = [
        ("cold dvc repro (all stages)", cold, ""),
        ("no-op dvc repro", noop, ""),
        ("dvc repro after a hyperparameter change", hyper, f"reran: {', '.join(reran)}"),
        ("bare load + features + fit + evaluate", bare, "in-process, no DVC/reports"),
    ]
    print(f"{'what':<42} {'seconds':>8}  notes")
    for what, seconds, note in rows:
        print(f"{what:<42} {seconds:8.1f}  {note}")


if __name__ == "__main__":
    main()
