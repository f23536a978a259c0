"""`contrail monitor`'s I/O: read production data, the model and the training data; write the
report, the JSON the retraining step reads, and the history row."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np

from contrail import months, paths
from contrail.data import schema
from contrail.drift import drift_scores, score_drift
from contrail.features import build_features, delay_label
from contrail.identity import model_version
from contrail.io import read_json, read_parquet, write_json, write_text
from contrail.metrics import Evaluation
from contrail.model import TrainedModel
from contrail.model_card import PIPELINE_FILE
from contrail.monitor import HISTORY, MONITOR_JSON, MONITOR_MD, history, pages, production
from contrail.monitor.check import Check, ModelFacts, measure
from contrail.monitor.policy import Outcome, RetrainDecision, decide_retraining
from contrail.params import Params
from contrail.serving.package import file_md5
from contrail.stages import step

# Prediction drift compares production scores with the model's scores on this many training
# rows (a fixed sample): scoring a million reference rows again would double the run time.
REFERENCE_SCORE_ROWS = 20_000


def model_facts(model: TrainedModel) -> ModelFacts:
    evaluation = Evaluation.from_json(read_json(paths.METRICS), str(paths.METRICS))
    return ModelFacts(
        version=model_version(file_md5(paths.MODEL_DIR / PIPELINE_FILE)),
        train_start=model.card.train_start,
        train_end=model.card.train_end,
        test_month=months.name(months.index(model.card.train_end) + 1),
        test_roc_auc=evaluation.model.roc_auc,
        test_brier=evaluation.model.brier,
    )


def check(params: Params) -> Check:
    model = TrainedModel.load(paths.MODEL_DIR)
    facts = model_facts(model)
    with step("read production data"):
        data = production.load(params)
    rows = len(data.raw)
    checked = partial(Check, data.month, data.source, rows, facts)
    with step(f"validate {rows:,} rows of {data.month}"):
        # Outcomes arrive late: missing labels are "not measured yet", never a broken feed.
        contract = [c for c in data.columns if c != schema.ARRIVAL]
        # Too few flights is the policy's call (`retrain.min_rows`), not a broken feed.
        limits = params.validation.model_copy(update={"min_rows": 1})
        problems = schema.validate(data.raw, limits, only=contract)
    if problems:
        lines = [problem.line() for problem in problems]
        return checked(problems=lines, performance=None, drift=None, prediction_drift=None)
    with step("features"):
        table = build_features(data.raw, model.card.features)
        label = delay_label(data.raw, params.target.delay_minutes).to_numpy(
            dtype=float, na_value=np.nan
        )
    del data  # a million raw rows weigh more than their features: free them before the rest
    reference = read_parquet(paths.TRAIN, columns=model.card.features)
    with step(f"drift: {len(reference):,} training rows vs {rows:,}"):
        drift = drift_scores(reference, table, params.features, params.drift)
    rng = np.random.default_rng(params.seed)
    scored = np.sort(rng.permutation(rows)[: params.monitor.max_scored_rows])
    with step(f"score {len(scored):,} flights and the reference"):
        p = model.predict_proba(table.iloc[scored])
        sample = reference.sample(
            min(len(reference), REFERENCE_SCORE_ROWS), random_state=params.seed
        )
        prediction_drift = score_drift(model.predict_proba(sample), p, params.drift.threshold)
    labelled = ~np.isnan(label[scored])
    y = label[scored][labelled].astype(int)
    performance = None
    if len(np.unique(y)) == 2:
        with step(f"performance on {len(y):,} flights with an outcome"):
            performance = measure(
                y, p[labelled], params.monitor.bootstrap_samples, params.evaluate.confidence,
                params.seed,
            )  # fmt: skip
    return checked(
        problems=[], performance=performance, drift=drift, prediction_drift=prediction_drift,
        scored_rows=len(scored),
    )  # fmt: skip


def history_row(check: Check, decision: RetrainDecision) -> history.Row:
    perf = check.performance
    return history.Row(
        month=check.month,
        model_version=check.model.version,
        rows=check.rows,
        labelled_rows=perf.labelled_rows if perf else 0,
        roc_auc=perf.roc_auc if perf else None,
        roc_auc_low=perf.roc_auc_low if perf else None,
        roc_auc_high=perf.roc_auc_high if perf else None,
        test_roc_auc=check.model.test_roc_auc,
        brier=perf.brier if perf else None,
        test_brier=check.model.test_brier,
        delay_rate=perf.delay_rate if perf else None,
        drifted_share=check.drift["drifted_share"] if check.drift else 0.0,
        prediction_drift=check.prediction_drift["score"] if check.prediction_drift else None,
        retrain=decision.retrain,
        reason=decision.reason,
    )


def monitor(params: Params, history_file: Path = HISTORY) -> Outcome:
    """Check the newest production month, decide, and write the report and the history row."""
    result = check(params)
    rows = (
        history.parse(history_file.read_text(), str(history_file)) if history_file.exists() else []
    )
    decision = decide_retraining(result, rows, params.retrain, params.data)
    outcome = Outcome(result, decision)
    write_json(MONITOR_JSON, outcome.to_json())
    write_text(MONITOR_MD, pages.monitor_page(result, decision))
    if not result.problems:
        write_text(
            history_file, history.render(history.upsert(rows, history_row(result, decision)))
        )
    return outcome
