"""Helpers shared by the serving tests (importable because pytest puts this folder on sys.path)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from contrail.model import TrainedModel

REPO = Path(__file__).resolve().parents[2]


def as_flights(raw: pd.DataFrame) -> list[dict]:
    """Raw rows as API flights: Python scalars, missing values as None (JSON null)."""
    from contrail.serving.schema import REQUEST_COLUMNS

    return [
        {c: None if pd.isna(v) else getattr(v, "item", lambda v=v: v)() for c, v in row.items()}
        for row in raw[REQUEST_COLUMNS].to_dict(orient="records")
    ]


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
