"""Data drift of model inputs with Evidently, condensed to one row per feature.

Evidently decides per column (its own test status), so the verdict stays Evidently's for
any method chosen in params.yaml; this module only reshapes the snapshot.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

from contrail.params import DriftParams, FeatureParams


def compared_columns(features: FeatureParams, drift: DriftParams) -> list[str]:
    return [c for c in features.columns if c not in drift.exclude]


def run_drift(
    reference: pd.DataFrame, current: pd.DataFrame, features: FeatureParams, drift: DriftParams
) -> tuple[Any, dict]:
    """Evidently snapshot (for the HTML) and the compact summary (for DVC metrics)."""
    columns = compared_columns(features, drift)
    definition = DataDefinition(
        categorical_columns=[c for c in features.categorical if c in columns],
        numerical_columns=[c for c in features.numeric if c in columns],
    )
    report = Report(
        [
            DataDriftPreset(
                columns=columns,
                num_method=drift.num_method,
                cat_method=drift.cat_method,
                threshold=drift.threshold,
                drift_share=drift.drift_share,
            )
        ],
        include_tests=True,
    )
    snapshot = report.run(
        Dataset.from_pandas(current[columns], data_definition=definition),
        Dataset.from_pandas(reference[columns], data_definition=definition),
    )
    return snapshot, summarize(snapshot.dict(), drift.drift_share)


def summarize(snapshot: dict, drift_share: float) -> dict:
    """Per feature method/score/threshold/drifted, and the dataset verdict."""
    drifted = {
        test["metric_config"]["params"]["column"]: test["status"] == "FAIL"
        for test in snapshot["tests"]
        if test["metric_config"]["params"]["type"].endswith("ValueDrift")
    }
    per_feature = {}
    for metric in snapshot["metrics"]:
        config = metric["config"]
        if config["type"].endswith("ValueDrift"):
            per_feature[config["column"]] = {
                "method": config["method"],
                # Rounded: category order varies between runs and moves the last digits.
                "score": round(float(metric["value"]), 6),
                "threshold": float(config["threshold"]),
                "drifted": drifted[config["column"]],
            }
    share = sum(f["drifted"] for f in per_feature.values()) / len(per_feature)
    return {
        "dataset_drift": share >= drift_share,
        "drifted_share": round(share, 6),
        "drifted_features": sum(f["drifted"] for f in per_feature.values()),
        "compared_features": len(per_feature),
        "drift_share_threshold": drift_share,
        "features": per_feature,
    }


def save_html(snapshot: Any, path: Path) -> None:
    snapshot.save_html(str(path))
