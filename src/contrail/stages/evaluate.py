"""`contrail evaluate`: test-month scores with an interval, the naive baseline, and plots.

dvclive writes metrics.json and the plot files into a scratch folder; they replace the
tracked ones only when everything succeeded, so a failure keeps the last good evaluation.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from dvclive.live import Live

from contrail import metrics, paths
from contrail.features import LABEL
from contrail.io import read_parquet, replace_tree
from contrail.model import TrainedModel
from contrail.params import Params
from contrail.stages import log, step


def run(params: Params) -> None:
    model = TrainedModel.load(paths.MODEL_DIR)
    train, test = read_parquet(paths.TRAIN), read_parquet(paths.TEST)
    y = test[LABEL].to_numpy(dtype=int)
    with step(f"score {len(test):,} test rows"):
        p = model.predict_proba(test)
        scores = metrics.score(y, p, model.card.threshold)
    with step(f"bootstrap ROC AUC ({params.evaluate.bootstrap_samples} samples)"):
        low, high = metrics.bootstrap_interval(
            y, p, params.evaluate.bootstrap_samples, params.evaluate.confidence, params.seed
        )
    baseline = metrics.DelayRateBaseline().fit(
        train["meta_carrier"], train["meta_hour"], train[LABEL].to_numpy(dtype=int)
    )
    p_base = baseline.predict_proba(test["meta_carrier"], test["meta_hour"])
    base_threshold = float(np.quantile(p_base, 1 - model.card.train_positive_rate))
    baseline_scores = metrics.score(y, p_base, base_threshold)
    with step("permutation importance"):
        sample = test.sample(min(len(test), params.evaluate.importance_rows), random_state=0)
        importance = model.permutation_importance(
            sample,
            sample[LABEL].to_numpy(dtype=int),
            params.evaluate.importance_repeats,
            params.seed,
        )
    evaluation = metrics.Evaluation(
        model=metrics.ModelScores(
            **vars(scores), roc_auc_low=low, roc_auc_high=high, threshold=model.card.threshold
        ),
        baseline=baseline_scores,
        lift=metrics.Lift(roc_auc=scores.roc_auc - baseline_scores.roc_auc),
        test=metrics.TestSet(rows=len(test), delay_rate=float(y.mean())),
    )
    plots = {
        "roc": (metrics.roc_points(y, p), "fpr", "tpr", "simple", "ROC"),
        "precision_recall": (
            metrics.precision_recall_points(y, p), "recall", "precision", "simple",
            "Precision-recall",
        ),
        "calibration": (metrics.calibration_points(y, p), "prob_pred", "prob_true", "simple",
                        "Calibration"),
        "confusion": (
            metrics.confusion_counts(y, (p >= model.card.threshold).astype(int)),
            "actual", "predicted", "confusion_counts", "Confusion matrix at the threshold",
        ),
        "importance": (
            [{"feature": f, "importance": round(v, 6)} for f, v in importance.items()],
            "importance", "feature", "bar_horizontal_sorted",
            "Permutation importance (ROC AUC drop)",
        ),
    }  # fmt: skip
    with step(f"write {paths.EVALUATION_DIR}"):
        _write(evaluation, plots)
    log.info(
        "  ROC AUC %.3f [%.3f, %.3f] vs baseline %.3f",
        scores.roc_auc, low, high, baseline_scores.roc_auc,
    )  # fmt: skip


def _write(evaluation: metrics.Evaluation, plots: dict[str, tuple[Any, ...]]) -> None:
    paths.EVALUATION_DIR.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".evaluate-", dir=paths.EVALUATION_DIR.parent))
    try:
        with Live(str(scratch), dvcyaml=None, save_dvc_exp=False, report=None) as live:
            for section, values in evaluation.to_json().items():
                for name, value in values.items():
                    live.log_metric(f"{section}/{name}", value, plot=False)
            for name, (points, x, y, template, title) in plots.items():
                live.log_plot(name, points, x=x, y=y, template=template, title=title)
        replace_tree(scratch / "plots" / "custom", paths.PLOTS_DIR)
        shutil.move(scratch / "metrics.json", paths.METRICS)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
