"""Helpers for the release tests: a tiny pipeline repository (dvc.yaml artifacts, a dvc.lock
with the model md5, the model card and a metrics file, committed) and its metrics."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from contrail.metrics import Evaluation, Lift, ModelScores, Scores, TestSet

FEATURES = ("carrier", "origin", "dep_hour", "distance")
IMAGE = "ghcr.io/owner/contrail/flight-delay@sha256:" + "ab" * 32
GTO_CONFIG = "stages: [staging, production]\n"
DVC_YAML = {
    "artifacts": {
        "flight-delay": {"path": "models/model.joblib", "type": "model", "desc": "test model"}
    }
}


def evaluation(roc_auc: float = 0.743) -> Evaluation:
    return Evaluation(
        model=ModelScores(
            roc_auc=roc_auc, pr_auc=0.585, brier=0.18, log_loss=0.55, precision=0.5,
            recall=0.6, f1=0.55, roc_auc_low=round(roc_auc - 0.007, 6),
            roc_auc_high=round(roc_auc + 0.008, 6), threshold=0.32,
        ),
        baseline=Scores(
            roc_auc=0.683, pr_auc=0.4, brier=0.2, log_loss=0.6, precision=0.4, recall=0.4, f1=0.4
        ),
        lift=Lift(roc_auc=round(roc_auc - 0.683, 6)),
        test=TestSet(rows=1000, delay_rate=0.3),
    )  # fmt: skip


def image(n: int) -> str:
    return f"ghcr.io/owner/contrail/flight-delay@sha256:{n:064x}"


class PipelineRepo:
    """A git repository whose commits look like the pipeline's outputs."""

    def __init__(self, path: Path, origin: Path) -> None:
        self.path = path
        self.origin = origin

    def git(self, *args: str, cwd: Path | None = None) -> str:
        done = subprocess.run(
            ["git", *args], cwd=cwd or self.path, capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    def commit(
        self,
        model_md5: str,
        *,
        features: tuple[str, ...] = FEATURES,
        window: tuple[str, str] = ("2013-01", "2013-05"),
        data_md5: str = "d" * 32,
        roc_auc: float = 0.743,
        message: str = "pipeline run",
    ) -> str:
        lock = {
            "schema": "2.0",
            "stages": {
                "ingest": {
                    "cmd": "contrail ingest",
                    "outs": [{"path": "data/raw/window.parquet", "hash": "md5", "md5": data_md5}],
                },
                "train": {
                    "cmd": "contrail train",
                    "outs": [
                        {"path": "models/model.joblib", "hash": "md5", "md5": model_md5},
                        {"path": "models/model.json", "hash": "md5", "md5": "c" * 32},
                    ],
                },
            },
        }
        card = {"features": list(features), "train_start": window[0], "train_end": window[1]}
        (self.path / "models").mkdir(exist_ok=True)
        (self.path / "reports/evaluation").mkdir(parents=True, exist_ok=True)
        (self.path / "dvc.lock").write_text(yaml.safe_dump(lock))
        (self.path / "models/model.json").write_text(json.dumps(card, indent=2) + "\n")
        (self.path / "reports/evaluation/metrics.json").write_text(
            json.dumps(evaluation(roc_auc).to_json(), indent=2) + "\n"
        )
        self.git("add", "-A")
        self.git("commit", "--quiet", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")

    def tags(self, where: Path | None = None) -> set[str]:
        return set(self.git("tag", "--list", cwd=where).split())

    def origin_tags(self) -> set[str]:
        return self.tags(self.origin)
