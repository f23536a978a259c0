"""Helpers the serving tests share: raw rows as API flights, a model folder, a git repository."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd

from contrail.features import required_inputs
from contrail.model import TrainedModel

REPO = Path(__file__).resolve().parents[2]


def as_flights(raw: pd.DataFrame, features: list[str]) -> list[dict]:
    """Raw rows as API flights for a model with `features`: Python scalars, missing as None."""
    return [
        {c: None if pd.isna(v) else getattr(v, "item", lambda v=v: v)() for c, v in row.items()}
        for row in raw[required_inputs(features)].to_dict(orient="records")
    ]


def predict_body(*flights: dict, **top_level: object) -> str:
    """A POST /predict body of `flights`, with any extra top-level keys."""
    return json.dumps({"flights": list(flights), **top_level})


def write_model(model: TrainedModel, directory: Path) -> Path:
    """The model saved as the train stage does, with a dvc.lock and metrics that describe it."""
    from contrail.serving.package import file_md5

    model.save(directory / "models")
    md5 = file_md5(directory / "models/model.joblib")
    (directory / "dvc.lock").write_text(
        "schema: '2.0'\nstages:\n  train:\n    outs:\n"
        f"    - path: models/model.joblib\n      hash: md5\n      md5: {md5}\n"
    )
    (directory / "metrics.json").write_text('{"model": {"roc_auc": 0.7, "f1": 0.5}}')
    return directory


def git_repo_with_one_commit(directory: Path) -> str:
    """A git repository with one tracked file at `directory`; the commit's sha, read from the
    branch ref file rather than through git's own reporting."""
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "tracked.txt").write_text("v1\n")
    for args in (["init", "-q", "-b", "main"], ["add", "tracked.txt"], ["commit", "-qm", "one"]):
        subprocess.run([*git, *args], cwd=directory, check=True, capture_output=True)
    return (directory / ".git/refs/heads/main").read_text().strip()
