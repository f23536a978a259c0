"""The monitor's page (`reports/monitor.md`, the job summary) and the retraining PR's text."""

from __future__ import annotations

from contrail import months
from contrail.metrics import Evaluation
from contrail.monitor.check import Check
from contrail.monitor.policy import RetrainDecision


def _performance_rows(check: Check) -> list[str]:
    perf, model = check.performance, check.model
    if perf is None:
        return ["No flight of this month has an outcome yet: performance not measured."]
    return [
        f"| | {check.month} ({perf.labelled_rows:,} flights with an outcome) | "
        f"test month {model.test_month} |",
        "|---|---|---|",
        f"| ROC AUC | {perf.roc_auc:.4f} [{perf.roc_auc_low:.4f}, {perf.roc_auc_high:.4f}] | "
        f"{model.test_roc_auc:.4f} |",
        f"| Brier score | {perf.brier:.4f} [{perf.brier_low:.4f}, {perf.brier_high:.4f}] | "
        f"{model.test_brier:.4f} |",
        f"| delay rate | {perf.delay_rate:.3f} | |",
        f"| mean predicted probability | {perf.mean_probability:.3f} | |",
    ]


def monitor_page(check: Check, decision: RetrainDecision) -> str:
    model = check.model
    lines = [
        f"# Monitor: {check.month}",
        "",
        f"**{decision.line()}**",
        "",
    ]
    if decision.drift_note:
        lines += [f"_{decision.drift_note}_", ""]
    lines += [
        f"Model `{model.version}`, trained on {model.train_start}..{model.train_end}, tested on "
        f"{model.test_month}. Production: {check.rows:,} flights of {check.month} from "
        f"`{check.source}`.",
        "",
    ]
    if check.problems:
        lines += ["## Data validation: failed", "", *(f"- {p}" for p in check.problems), ""]
        return "\n".join(lines)
    lines += ["## Performance", "", *_performance_rows(check), ""]
    if check.scored_rows is not None and check.scored_rows < check.rows:
        lines += [
            f"Performance and prediction drift on a seeded random sample of "
            f"{check.scored_rows:,} of the {check.rows:,} flights (`monitor.max_scored_rows`); "
            "feature drift on all of them.",
            "",
        ]
    if check.drift is not None:
        drift = check.drift
        lines += [
            "## Drift against the training data",
            "",
            f"{drift['drifted_features']} of {drift['compared_features']} features drifted "
            f"(share {drift['drifted_share']:.2f}; dataset drift at "
            f"{drift['drift_share_threshold']:g}).",
            "",
            "| feature | method | score | threshold | drifted |",
            "|---|---|---|---|---|",
            *(
                f"| {name} | {f['method']} | {f['score']:.4f} | {f['threshold']:g} | "
                f"{'yes' if f['drifted'] else 'no'} |"
                for name, f in drift["features"].items()
            ),
            "",
        ]
    if check.prediction_drift is not None:
        pd_ = check.prediction_drift
        lines += [
            f"Prediction drift (predicted probabilities, {pd_['method']}): score "
            f"{pd_['score']:.4f}, threshold {pd_['threshold']:g}: "
            f"{'drifted' if pd_['drifted'] else 'stable'}.",
            "",
        ]
    return "\n".join(lines)


def pull_request(
    check: Check, decision: RetrainDecision, new: Evaluation, artifact: str
) -> tuple[str, str]:
    """Title and body of the retraining PR: why now, and old vs new model on the newest month."""
    model, perf = check.model, check.performance
    title = f"Retrain {artifact} on {decision.start}..{decision.end}"
    old_auc = f"{perf.roc_auc:.4f}" if perf else "not measured"
    old_brier = f"{perf.brier:.4f}" if perf else "not measured"
    body = [
        f"## {title}",
        "",
        f"The scheduled monitor checked production data of **{check.month}** "
        f"({check.rows:,} flights from `{check.source}`) and decided:",
        "",
        f"> {decision.line()}",
        "",
    ]
    if decision.drift_note:
        body += [f"_{decision.drift_note}_", ""]
    body += [
        f"Old and new model on the flights of {check.month} (the new model's test month):",
        "",
        "| | current model | retrained model |",
        "|---|---|---|",
        f"| training window | {model.train_start}..{model.train_end} | "
        f"{decision.start}..{_month_before(decision)} |",
        f"| ROC AUC on {check.month} | {old_auc} | {new.model.roc_auc:.4f} "
        f"[{new.model.roc_auc_low:.4f}, {new.model.roc_auc_high:.4f}] |",
        f"| Brier score on {check.month} | {old_brier} | {new.model.brier:.4f} |",
        f"| its own test month | {model.test_month}: AUC {model.test_roc_auc:.4f} | "
        f"{check.month}: AUC {new.model.roc_auc:.4f} |",
        "",
        f"This PR moves `data.start`/`data.end` to {decision.start}/{decision.end} in "
        "params.yaml and commits the reproduced pipeline (dvc.lock, metrics, reports). The "
        "model report and the promotion gate run on it like on any PR; merging it releases "
        "the model through the usual path.",
        "",
        "Opened by the scheduled monitor (`.github/workflows/monitor.yml`); a newer target "
        "window closes this PR in favour of its own.",
    ]
    return title, "\n".join(body) + "\n"


def _month_before(decision: RetrainDecision) -> str:
    assert decision.end is not None
    return months.name(months.index(decision.end) - 1)
