"""What a person wants after `dvc repro`: headline numbers and where the reports are."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from contrail import paths
from contrail.io import read_json
from contrail.metrics import Evaluation, MetricsFormatError
from contrail.params import load_params


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
            f"  reports   {paths.VALIDATION_MD}, {paths.METRICS}, {paths.PLOTS_DIR} (dvc plots "
            f"show), {paths.DRIFT_HTML} (make drift-report)",
        ]
    )


def summarise(params_path: Path) -> str:
    """The summary of the pipeline's current outputs; a missing or outdated one is named,
    with the command that makes it."""
    try:
        confidence = load_params(params_path).evaluate.confidence
        evaluation = Evaluation.from_json(read_json(paths.METRICS), str(paths.METRICS))
        stats = read_json(paths.FEATURE_STATS)
        return render(evaluation, read_json(paths.DRIFT_JSON), stats, confidence)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"no results yet ({exc.filename}): run `dvc repro` first") from None
    except MetricsFormatError as exc:
        raise MetricsFormatError(f"{exc} (rerun `dvc repro`)") from None
