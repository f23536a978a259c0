"""Data drift of model inputs with Evidently, condensed to one row per feature.

Evidently decides per column (its own test status), so the verdict stays Evidently's for
any method chosen in params.yaml; this module only reshapes the snapshot.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

from contrail.params import DriftParams, FeatureParams


def compared_columns(features: FeatureParams, drift: DriftParams) -> list[str]:
    return [c for c in features.columns if c not in drift.exclude]


def run_drift(
    reference: pd.DataFrame, current: pd.DataFrame, features: FeatureParams, drift: DriftParams
) -> tuple[Any, dict[str, Any]]:
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


def summarize(snapshot: dict[str, Any], drift_share: float) -> dict[str, Any]:
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


# Evidently 0.7 gives every widget and graph a uuid7 and the dashboard a "metric_" + uuid4
# id, drawn anew on each run: the only bytes that differ between two reports of the same data.
_WIDGET_ID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\b")
_DASHBOARD_ID = re.compile(r"metric_[0-9a-f]{32}")


def stable_html(snapshot: Any) -> str:
    """The HTML `snapshot.save_html` writes, with its random ids renumbered in order of
    appearance, so the same data gives the same bytes (a DVC output must not change)."""
    html: str = snapshot.get_html_str(as_iframe=False)
    dashboard_ids = set(_DASHBOARD_ID.findall(html))
    if len(dashboard_ids) != 1:
        raise RuntimeError(f"expected one Evidently dashboard id, found {len(dashboard_ids)}")
    html = html.replace(dashboard_ids.pop(), "metric_" + "0" * 32)
    ids: dict[str, str] = {}
    return _WIDGET_ID.sub(
        lambda m: ids.setdefault(m.group(0), f"00000000-0000-7000-8000-{len(ids):012x}"), html
    )
