"""The DVC stages: each reads its inputs from disk, calls pure logic, writes its outputs.

Every stage loads and validates all of params.yaml first, so a typo anywhere stops the
first stage that runs, before it writes anything.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd
import sklearn

from contrail import paths
from contrail.data import schema, sources
from contrail.features import build_features, delay_label
from contrail.io import atomic_path, read_json, read_parquet, write_json, write_parquet, write_text
from contrail.model import (
    PIPELINE_FILE,
    ModelCard,
    TrainedModel,
    build_pipeline,
    choose_threshold,
)
from contrail.params import Params

log = logging.getLogger("contrail")

LABEL = "delayed"
# Carried beside the features for the baseline and for slicing, never fed to the model.
META_COLUMNS = {"carrier": "meta_carrier", "hour": "meta_hour"}


@contextmanager
def step(what: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    log.info("  %-44s %6.1fs", what, time.perf_counter() - start)


class ValidationFailed(RuntimeError):
    """Raw data broke the contract; reports/validation.md lists every problem."""


def ingest(params: Params) -> None:
    with step(f"read {params.data.source}"):
        table = sources.read_source(params.data.source)
    known = [c for c in sources.RAW_COLUMNS if c in table.columns]
    with step(f"select {params.data.start}..{params.data.end} + {params.data.current_month}"):
        window, current = sources.split_window(table[known], params.data)
    with step("write data/raw"):
        write_parquet(paths.RAW_WINDOW, window)
        write_parquet(paths.RAW_CURRENT, current)
    log.info("  window %s rows, current month %s rows", f"{len(window):,}", f"{len(current):,}")


def _validation_markdown(results: dict[str, dict]) -> str:
    lines = ["# Data validation", ""]
    for name, result in results.items():
        verdict = "passed" if not result["problems"] else f"{len(result['problems'])} problem(s)"
        lines += [f"## {name} ({result['file']}, {result['rows']:,} rows): {verdict}", ""]
        lines += [f"- {schema.Problem(**p).line()}" for p in result["problems"]]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def validate(params: Params) -> None:
    results = {}
    for name, path in (("window", paths.RAW_WINDOW), ("current", paths.RAW_CURRENT)):
        with step(f"validate {path}"):
            table = read_parquet(path)
            _, problems = schema.validate(table, params.validation.min_rows)
        results[name] = {
            "file": str(path),
            "rows": len(table),
            "problems": schema.problems_as_dicts(problems),
        }
    write_json(paths.VALIDATION_JSON, results)
    write_text(paths.VALIDATION_MD, _validation_markdown(results))
    failed = [p for r in results.values() for p in r["problems"]]
    if failed:
        shown = "\n".join(f"  {schema.Problem(**p).line()}" for p in failed[:20])
        raise ValidationFailed(
            f"raw data failed validation ({len(failed)} problem(s), all in "
            f"{paths.VALIDATION_MD}):\n{shown}"
        )
    log.info("  no problems found")


def feature_table(raw: pd.DataFrame, params: Params) -> pd.DataFrame:
    """Model inputs, the label (<NA> without arrival) and the meta columns, per raw row."""
    table = build_features(raw, params.features.columns)
    table[LABEL] = delay_label(raw, params.target.delay_minutes)
    for column, meta in META_COLUMNS.items():
        table[meta] = raw[column]
    return table


def split_train_test(
    window: pd.DataFrame, table: pd.DataFrame, params: Params
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Labelled rows of the window's feature table: its last month is the test set."""
    is_test = sources.month_of(window) == params.data.test_month
    labelled = table[LABEL].notna()
    return (
        table[~is_test & labelled].reset_index(drop=True),
        table[is_test & labelled].reset_index(drop=True),
    )


def features(params: Params) -> None:
    window, current = read_parquet(paths.RAW_WINDOW), read_parquet(paths.RAW_CURRENT)
    with step("build features"):
        window_table = feature_table(window, params)
        current_table = feature_table(current, params)
    train, test = split_train_test(window, window_table, params)
    with step("write data/features"):
        write_parquet(paths.TRAIN, train)
        write_parquet(paths.TEST, test)
        write_parquet(paths.CURRENT, current_table)
    stats = {
        "train_rows": len(train),
        "test_rows": len(test),
        "current_rows": len(current_table),
        "dropped_no_arrival": int(window_table[LABEL].isna().sum()),
        "train_delay_rate": float(train[LABEL].mean()),
        "test_delay_rate": float(test[LABEL].mean()),
        "current_delay_rate": float(current_table[LABEL].mean()),
    }
    write_json(paths.FEATURE_STATS, stats)
    log.info(
        "  train %s rows, test %s rows; %s cancelled/diverted flights (no arrival) dropped",
        f"{len(train):,}",
        f"{len(test):,}",
        f"{stats['dropped_no_arrival']:,}",
    )


def train_model(data: pd.DataFrame, params: Params) -> tuple[TrainedModel, float]:
    """Fit the pipeline on a labelled feature table; returns the model and fit seconds."""
    y = data[LABEL].to_numpy(dtype=int)
    pipeline = build_pipeline(params.features, params.train, params.seed)
    started = time.perf_counter()
    with step(f"fit {type(pipeline[-1]).__name__} on {len(data):,} rows"):
        pipeline.fit(data[params.features.columns], y)
    seconds = time.perf_counter() - started
    p_train = pipeline.predict_proba(data[params.features.columns])[:, 1]
    card = ModelCard(
        features=params.features.columns,
        threshold=choose_threshold(params.threshold, y, p_train),
        sklearn_version=sklearn.__version__,
        train_start=params.data.start,
        train_end=str(params.data.test_month - 1),
        train_rows=len(data),
        train_positive_rate=float(y.mean()),
    )
    return TrainedModel(pipeline, card), seconds


def train(params: Params) -> None:
    model, seconds = train_model(read_parquet(paths.TRAIN), params)
    model.save(paths.MODEL_DIR)
    # Run facts vary between identical runs, so they stay out of the model card and metrics.
    write_json(
        paths.TRAINING_FACTS,
        {
            "fit_seconds": round(seconds, 2),
            "model_bytes": (paths.MODEL_DIR / PIPELINE_FILE).stat().st_size,
            "n_iter": int(model.pipeline[-1].n_iter_),
        },
    )
    log.info("  threshold %.3f (%s policy)", model.card.threshold, params.threshold.policy)


def evaluate(params: Params) -> None:
    from dvclive import Live
    from sklearn.inspection import permutation_importance

    from contrail.metrics import DelayRateBaseline, bootstrap_interval, score

    model = TrainedModel.load(paths.MODEL_DIR)
    train, test = read_parquet(paths.TRAIN), read_parquet(paths.TEST)
    y = test[LABEL].to_numpy(dtype=int)
    with step(f"score {len(test):,} test rows"):
        p = model.predict_proba(test)
        model_scores = score(y, p, model.card.threshold)
    with step(f"bootstrap ROC AUC ({params.evaluate.bootstrap_samples} samples)"):
        low, high = bootstrap_interval(
            y, p, params.evaluate.bootstrap_samples, params.evaluate.confidence, params.seed
        )
    baseline = DelayRateBaseline().fit(
        train["meta_carrier"], train["meta_hour"], train[LABEL].to_numpy(dtype=int)
    )
    p_base = baseline.predict_proba(test["meta_carrier"], test["meta_hour"])
    base_threshold = float(np.quantile(p_base, 1 - model.card.train_positive_rate))
    baseline_scores = score(y, p_base, base_threshold)
    with step("permutation importance"):
        sample = test.sample(min(len(test), params.evaluate.importance_rows), random_state=0)
        importance = permutation_importance(
            model.pipeline,
            sample[model.card.features],
            sample[LABEL].to_numpy(dtype=int),
            scoring="roc_auc",
            n_repeats=params.evaluate.importance_repeats,
            random_state=params.seed,
        )
    with (
        step(f"write {paths.EVALUATION_DIR}"),
        Live(str(paths.EVALUATION_DIR), dvcyaml=False, save_dvc_exp=False, report=None) as live,
    ):
        for name, value in model_scores.items():
            live.log_metric(f"model/{name}", round(value, 6), plot=False)
        live.log_metric("model/roc_auc_low", round(low, 6), plot=False)
        live.log_metric("model/roc_auc_high", round(high, 6), plot=False)
        live.log_metric("model/threshold", round(model.card.threshold, 6), plot=False)
        for name, value in baseline_scores.items():
            live.log_metric(f"baseline/{name}", round(value, 6), plot=False)
        lift = model_scores["roc_auc"] - baseline_scores["roc_auc"]
        live.log_metric("lift/roc_auc", round(lift, 6), plot=False)
        live.log_metric("test/rows", len(test), plot=False)
        live.log_metric("test/delay_rate", round(float(y.mean()), 6), plot=False)
        for kind in ("roc", "precision_recall", "calibration"):
            live.log_sklearn_plot(kind, y, p, name=f"{kind}.json")
        live.log_sklearn_plot(
            "confusion_matrix", y, (p >= model.card.threshold).astype(int), name="confusion.json"
        )
        live.log_plot(
            "importance",
            [
                {"feature": f, "importance": round(float(v), 6)}
                for f, v in zip(model.card.features, importance.importances_mean, strict=True)
            ],
            x="importance",
            y="feature",
            template="bar_horizontal_sorted",
            title="Permutation importance (ROC AUC drop)",
        )
    log.info(
        "  ROC AUC %.3f [%.3f, %.3f] vs baseline %.3f", model_scores["roc_auc"], low, high,
        baseline_scores["roc_auc"],
    )  # fmt: skip


def drift(params: Params) -> None:
    from contrail.drift import run_drift

    reference, current = read_parquet(paths.TRAIN), read_parquet(paths.CURRENT)
    with step(f"Evidently drift: {len(reference):,} vs {len(current):,} rows"):
        snapshot, summary = run_drift(reference, current, params.features, params.drift)
    with step(f"write {paths.DRIFT_HTML}"):
        with atomic_path(paths.DRIFT_HTML) as tmp:
            snapshot.save_html(str(tmp))
        write_json(paths.DRIFT_JSON, summary)
    log.info(
        "  %d of %d features drifted: dataset drift %s",
        summary["drifted_features"], summary["compared_features"],
        "DETECTED" if summary["dataset_drift"] else "not detected",
    )  # fmt: skip


def summary() -> str:
    """What a person wants after `dvc repro`: headline numbers and where the reports are."""
    metrics = read_json(paths.METRICS)
    drift_summary = read_json(paths.DRIFT_JSON)
    stats = read_json(paths.FEATURE_STATS)
    model, baseline = metrics["model"], metrics["baseline"]
    drifted = [n for n, f in drift_summary["features"].items() if f["drifted"]]
    return "\n".join(
        [
            "contrail: pipeline summary",
            f"  data      train {stats['train_rows']:,} rows, test {stats['test_rows']:,}, "
            f"current {stats['current_rows']:,}; {stats['dropped_no_arrival']:,} without arrival dropped",
            f"  model     ROC AUC {model['roc_auc']:.3f} (95% CI {model['roc_auc_low']:.3f}"
            f"-{model['roc_auc_high']:.3f}), PR AUC {model['pr_auc']:.3f}, "
            f"Brier {model['brier']:.4f}, F1 {model['f1']:.3f} at threshold {model['threshold']:.3f}",
            f"  baseline ROC AUC {baseline['roc_auc']:.3f} (carrier x hour delay rate); "
            f"lift {metrics['lift']['roc_auc']:+.3f}",
            f"  drift     {'DETECTED' if drift_summary['dataset_drift'] else 'not detected'}: "
            f"{drift_summary['drifted_features']}/{drift_summary['compared_features']} features "
            f"({', '.join(drifted) or 'none'})",
            f"  reports   {paths.VALIDATION_MD}, {paths.METRICS}, {paths.DRIFT_HTML}, "
            f"{paths.EVALUATION_DIR}/plots (dvc plots show)",
        ]
    )
