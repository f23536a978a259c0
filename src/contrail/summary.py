"""What a person wants after `dvc repro`: headline numbers and where the reports are."""

from __future__ import annotations

from typing import Any

from contrail import paths
from contrail.metrics import Evaluation


def render(
    evaluation: Evaluation, drift: dict[str, Any], stats: dict[str, Any], confidence: float
) -> str:
    model, baseline = evaluation.model, evaluation.baseline
    drifted = [name for name, feature in drift["features"].items() if feature["drifted"]]
    return "\n".join(
        [
            "contrail: pipeline summary",
            f"  data      train {stats['train_rows']:,} rows, test {stats['test_rows']:,}, "
            f"current {stats['current_rows']:,}; {stats['dropped_no_arrival']:,} without arrival dropped",
            f"  model     ROC AUC {model.roc_auc:.3f} ({confidence:.0%} CI {model.roc_auc_low:.3f}"
            f"-{model.roc_auc_high:.3f}), PR AUC {model.pr_auc:.3f}, "
            f"Brier {model.brier:.4f}, F1 {model.f1:.3f} at threshold {model.threshold:.3f}",
            f"  baseline ROC AUC {baseline.roc_auc:.3f} (carrier x hour delay rate); "
            f"lift {evaluation.lift.roc_auc:+.3f}",
            f"  drift     {'DETECTED' if drift['dataset_drift'] else 'not detected'}: "
            f"{drift['drifted_features']}/{drift['compared_features']} features "
            f"({', '.join(drifted) or 'none'})",
            f"  reports   {paths.VALIDATION_MD}, {paths.METRICS}, {paths.DRIFT_HTML}, "
            f"{paths.PLOTS_DIR} (dvc plots show)",
        ]
    )
