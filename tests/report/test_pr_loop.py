"""`contrail report` and `contrail gate` in throwaway git + DVC repositories.

The first tests write the pipeline's outputs by hand (fast: errors, a first model, a base
without a model); the others clone the real pipeline (`support.pr_repos.build_origin`) and
check the comment and the verdict against both models scored independently with scikit-learn.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import average_precision_score, f1_score, log_loss, roc_auc_score
from support.pr_repos import (
    METRICS,
    TEST_ROWS,
    ci_checkout,
    commit,
    init_repo,
    invoke,
    metric_cells,
    predictions,
    quiet_environment,
    run,
)

from contrail.features import LABEL
from contrail.metrics import HEADLINE_METRICS
from contrail.report.compare import flatten
from contrail.report.pr_comment import metric_label

pytestmark = pytest.mark.e2e

FEATURES = ["carrier", "origin", "temp", "wind_speed"]
REPORT = Path("reports/pr_report.md")
LINK = re.compile(r"\]\(([^)]+)\)")


def write_json(path: Path, payload: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")


def metrics_file(roc_auc: float, brier: float, lift: float) -> dict:
    """reports/evaluation/metrics.json in full, as the evaluate stage writes it."""
    return {
        "model": {
            "roc_auc": roc_auc, "pr_auc": 0.5, "brier": brier, "log_loss": 0.55,
            "precision": 0.5, "recall": 0.5, "f1": 0.5, "roc_auc_low": round(roc_auc - 0.01, 6),
            "roc_auc_high": round(roc_auc + 0.01, 6), "threshold": 0.3,
        },
        "baseline": {
            "roc_auc": round(roc_auc - lift, 6), "pr_auc": 0.4, "brier": 0.2, "log_loss": 0.6,
            "precision": 0.4, "recall": 0.4, "f1": 0.4,
        },
        "lift": {"roc_auc": lift},
        "test": {"rows": 1000, "delay_rate": 0.3},
    }  # fmt: skip


def write_outputs(root: Path, *, roc_auc: float, brier: float, lift: float = 0.05) -> None:
    """Pipeline outputs in the shapes the stages write, with chosen headline numbers."""
    write_json(root / METRICS, metrics_file(roc_auc, brier, lift))
    features = {
        name: {"method": "wasserstein", "score": 0.05 * i, "threshold": 0.1, "drifted": i > 1}
        for i, name in enumerate(FEATURES)
    }
    write_json(
        root / "reports/drift.json",
        {
            "dataset_drift": True,
            "drifted_features": 2,
            "compared_features": 4,
            "features": features,
        },
    )
    write_json(root / "reports/features.json", {"train_rows": 2000, "test_rows": 1000})
    curve = [{"fpr": x / 10, "tpr": min(1.0, x / 7)} for x in range(11)]
    write_json(root / "reports/evaluation/plots/roc.json", curve)


def rename_metric(root: Path, section: str, old: str, new: str) -> None:
    """What a PR renaming a metric in the evaluate stage but not in contrail.metrics writes."""
    payload = json.loads((root / METRICS).read_text())
    payload[section][new] = payload[section].pop(old)
    write_json(root / METRICS, payload)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`main` with hand-written outputs (ROC AUC 0.75, Brier 0.18), checked out on a branch."""
    root = tmp_path / "project"
    root.mkdir()
    init_repo(root, monkeypatch)
    write_outputs(root, roc_auc=0.75, brier=0.18)
    commit(root, "main")
    run(root, "git", "checkout", "-q", "-b", "pr")
    monkeypatch.chdir(root)
    return root


def test_first_pr_has_no_base_metrics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    root = tmp_path / "project"
    root.mkdir()
    init_repo(root, monkeypatch)
    commit(root, "pipeline without results")
    write_outputs(root, roc_auc=0.70, brier=0.2)
    monkeypatch.chdir(root)

    report = invoke("report", "--base", "main")
    gate = invoke("gate", "--base", "main")

    assert report.exit_code == 0, report.output
    comment = REPORT.read_text()
    assert "First model" in comment
    assert f"| {metric_label('model.roc_auc')} | n/a | 0.7000 |" in comment
    assert gate.exit_code == 0
    assert "first model" in gate.output


def test_a_renamed_metric_in_the_workspace_is_an_error_naming_it_not_na(repo):
    write_outputs(repo, roc_auc=0.75, brier=0.18)
    rename_metric(repo, "model", "roc_auc", "auc")

    report = invoke("report", "--base", "main")
    gate = invoke("gate", "--base", "main")

    for result, command in ((report, "report"), (gate, "gate")):
        assert result.exit_code == 2, result.output
        message = result.stderr.strip()
        assert message.startswith(f"contrail {command}: {METRICS} in the workspace:"), message
        assert "section 'model'" in message
        assert "missing ['roc_auc']" in message
        assert "unknown ['auc']" in message
    assert not REPORT.exists()


def test_a_workspace_without_metrics_is_an_error_not_a_verdict(repo):
    (repo / METRICS).unlink()

    result = invoke("gate", "--base", "main", labels="allow-regression")

    assert result.exit_code == 2
    assert result.stderr.strip() == f"contrail gate: {METRICS} not found: run `dvc repro` first"


def test_a_base_with_metrics_but_no_model_leaves_the_gate_undecided(repo):
    # main has metrics files (a regression, by them) but no model DVC could fetch or rebuild.
    write_outputs(repo, roc_auc=0.70, brier=0.2)
    why = "`main`'s model cannot be obtained: it has a metrics file but its dvc.lock records no models/model.joblib"

    gate = invoke("gate", "--base", "main", labels="allow-regression")
    report = invoke("report", "--base", "main")

    assert gate.exit_code == 2, gate.output
    assert gate.stderr.strip() == f"contrail gate: cannot decide: {why}"
    assert report.exit_code == 0, report.output
    comment = REPORT.read_text()
    assert comment.startswith(
        f"## ⚠️ Model report: the gate cannot decide\n\n**Verdict:** cannot decide: {why}."
    )
    assert f"| {metric_label('model.roc_auc')} | 0.7500 | 0.7000 |" in comment
    assert "**not comparable**, so no Δ" in comment
    assert "fell" not in comment


def test_an_unknown_base_is_an_error_not_a_verdict(repo):
    result = invoke("gate", "--base", "no-such-branch")

    assert result.exit_code == 2
    assert "unknown base revision 'no-such-branch'" in result.stderr


# --- The real pipeline: main and a branch that changes a hyperparameter and the window ---


@pytest.fixture(scope="module")
def pr_checkout(origin, tmp_path_factory) -> Path:
    """CI's checkout of branch `pr` (lower learning rate, one more month), `main`'s cache
    restored."""
    root, _ = origin
    with pytest.MonkeyPatch.context() as monkeypatch:
        quiet_environment(monkeypatch)
        return ci_checkout(root, tmp_path_factory.mktemp("pr") / "checkout", "pr")


@pytest.fixture
def pr_repo(pr_checkout: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    quiet_environment(monkeypatch)
    monkeypatch.chdir(pr_checkout)
    return pr_checkout


@pytest.fixture
def worse_repo(origin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """CI's checkout of branch `worse` (2 boosting iterations), `main`'s cache restored."""
    quiet_environment(monkeypatch)
    root = ci_checkout(origin[0], tmp_path / "checkout", "worse")
    monkeypatch.chdir(root)
    return root


SIGNED = re.compile(r"[+-]\d+(?:\.\d+)?")


def same_rows_scores(root: Path, rev: str | None) -> dict[str, float]:
    """The five headline metrics of the model at `rev` (None: the workspace's) on the
    workspace's test rows, computed here with scikit-learn."""
    card = json.loads(
        run(root, "git", "show", f"{rev}:models/model.json")
        if rev
        else (root / "models/model.json").read_text()
    )
    y = pd.read_parquet(root / TEST_ROWS)[LABEL].to_numpy(dtype=int)
    p = predictions(root, rev, root / TEST_ROWS)
    return {
        "model.roc_auc": roc_auc_score(y, p),
        "model.pr_auc": average_precision_score(y, p),
        "model.brier": float(np.mean((p - y) ** 2)),
        "model.log_loss": log_loss(y, p),
        "model.f1": f1_score(y, p >= card["threshold"]),
    }


def expected_failures(gate: dict, lift: float, deltas: dict[str, float] | None) -> list[str]:
    """The params.yaml rule applied by hand: which bounds the PR breaks."""
    failures = [] if lift >= gate["min_lift"] else ["lift"]
    if deltas is not None:
        if round(-deltas["model.roc_auc"], 9) > gate["max_roc_auc_drop"]:
            failures.append("roc_auc")
        if round(deltas["model.brier"], 9) > gate["max_brier_increase"]:
            failures.append("brier")
    return failures


def test_report_on_a_real_branch_scores_both_models_on_its_test_rows(pr_repo):
    root = pr_repo
    base_metrics = json.loads(run(root, "git", "show", "main:reports/evaluation/metrics.json"))
    pr_metrics = json.loads((root / METRICS).read_text())
    base_drift = json.loads(run(root, "git", "show", "main:reports/drift.json"))
    pr_drift = json.loads((root / "reports/drift.json").read_text())
    gate_bounds = yaml.safe_load((root / "params.yaml").read_text())["gate"]
    # Both models on the PR's test rows (April; main's own test month is March).
    base_scores, pr_scores = same_rows_scores(root, "main"), same_rows_scores(root, None)
    rows = pr_metrics["test"]["rows"]

    report = invoke("report", "--base", "main")
    gate = invoke("gate", "--base", "main")

    assert report.exit_code == 0, report.output
    comment = REPORT.read_text()
    assert len(comment) < 65_536
    base_flat, pr_flat = flatten(base_metrics), flatten(pr_metrics)
    assert set(base_flat) == set(pr_flat)
    for metric in HEADLINE_METRICS:
        # First table: both models on the same rows; the PR's column is its metrics file.
        name = metric.key
        _, base, pr, delta, interval = metric_cells(comment, metric_label(name))
        assert float(base) == pytest.approx(base_scores[name], abs=5e-5), name
        assert pr == f"{pr_flat[name]:.4f}", name
        assert pr_scores[name] == pytest.approx(pr_flat[name], abs=1e-6), name
        expected = pr_scores[name] - base_scores[name]
        assert float(delta) == pytest.approx(expected, abs=1e-4), name
        if name in ("model.roc_auc", "model.brier"):
            low, high = (float(x) for x in SIGNED.findall(interval))
            assert low - 5e-5 <= expected <= high + 5e-5, name
            assert interval.endswith(f"(paired, {rows:,} rows)"), name
        else:
            assert interval == "—", name
    for name in set(pr_flat) - {m.key for m in HEADLINE_METRICS}:
        # Collapsed: each metrics file as it is (each on its own test month).
        _, base, pr, delta = metric_cells(comment, metric_label(name))
        assert (float(base), float(pr)) == (base_flat[name], pr_flat[name]), name
        assert float(delta) == pytest.approx(pr_flat[name] - base_flat[name], abs=1e-6), name
    assert f"_Both models scored on the same {rows:,} test rows (this PR's test month)" in comment
    assert "`main`'s model: from the DVC cache or remote" in comment

    assert "| data.end | 2013-03 | 2013-04 |" in comment
    assert "| train.learning_rate | 0.1 | 0.05 |" in comment
    assert "The data window changed" in comment

    for feature in pr_drift["features"]:
        cells = metric_cells(comment, feature)
        assert float(cells[3]) == round(base_drift["features"][feature]["score"], 4)
        assert float(cells[5]) == round(pr_drift["features"][feature]["score"], 4)

    # The verdict is the params.yaml rule applied to the numbers above.
    deltas = {k: pr_scores[k] - base_scores[k] for k in ("model.roc_auc", "model.brier")}
    failures = expected_failures(gate_bounds, pr_metrics["lift"]["roc_auc"], deltas)
    assert gate.exit_code == (1 if failures else 0), (failures, gate.output)
    verdict = "❌ Model report: blocked" if failures else "✅ Model report: promote"
    assert f"## {verdict}" in comment

    # Charts are Mermaid text GitHub draws; no local file is linked (CML would upload it).
    assert comment.count("```mermaid\nxychart-beta\n") == 4
    assert "| Actual | `main`: predicted 0 |" in comment  # confusion matrix, both sides
    assert "![" not in comment
    assert all(link.startswith("https://") for link in LINK.findall(comment))
    assert sorted(p.name for p in (REPORT.parent / REPORT.stem).iterdir()) == ["plots"]
    # `dvc plots diff` as HTML, with the five charts of dvc.yaml (custom template included).
    html = (REPORT.parent / REPORT.stem / "plots" / "index.html").read_text()
    for title in (
        "ROC",
        "Precision-Recall",
        "Calibration",
        "Confusion matrix",
        "Permutation importance",
    ):
        assert title in html, title


def test_report_against_a_revision_before_any_results(origin, pr_repo):
    root = pr_repo
    scaffold = origin[1]["scaffold"]
    pr_metrics = json.loads((root / METRICS).read_text())
    gate_bounds = yaml.safe_load((root / "params.yaml").read_text())["gate"]

    report = invoke("report", "--base", scaffold)
    gate = invoke("gate", "--base", scaffold)

    assert report.exit_code == 0, report.output
    comment = REPORT.read_text()
    assert "First model" in comment
    for name, pr_value in flatten(pr_metrics).items():
        cells = metric_cells(comment, metric_label(name))
        if name in {m.key for m in HEADLINE_METRICS}:
            assert cells[1:] == ["n/a", f"{pr_value:.4f}"], name
        else:
            assert (cells[1], float(cells[2])) == ("n/a", pr_value), name
    # A first model is judged on its lift over the naive baseline alone.
    failures = expected_failures(gate_bounds, pr_metrics["lift"]["roc_auc"], None)
    assert gate.exit_code == (1 if failures else 0), gate.output
    assert not LINK.findall(comment)
    # Opt-in: the interactive charts linked, a file that exists.
    linked = invoke("report", "--base", scaffold, "--link-plots")
    assert linked.exit_code == 0, linked.output
    links = LINK.findall(REPORT.read_text())
    assert links == [f"{REPORT.stem}/plots/index.html"]
    assert (REPORT.parent / links[0]).is_file()


def worse_by(root: Path) -> tuple[float, float]:
    """How much worse the workspace's model is than `main`'s on its test rows: the ROC AUC
    drop and the Brier score rise, computed here."""
    base, pr = same_rows_scores(root, "main"), same_rows_scores(root, None)
    return base["model.roc_auc"] - pr["model.roc_auc"], pr["model.brier"] - base["model.brier"]


def test_a_model_worse_on_the_same_rows_is_blocked_with_a_one_line_reason(worse_repo):
    drop, rise = worse_by(worse_repo)
    assert drop > 0.005 and rise > 0.002  # the scenario: both bounds broken

    result = invoke("gate", "--base", "main")

    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"contrail gate: blocked: ROC AUC fell by {drop:.4f} against `main` on the same test "
        f"rows (at most 0.0050 allowed); Brier score rose by {rise:.4f} against `main` on the "
        "same test rows (at most 0.0020 allowed)"
    ]


def test_the_override_label_lets_a_regression_pass_and_the_comment_says_so(worse_repo):
    labels = json.dumps(["documentation", "allow-regression"])

    gate = invoke("gate", "--base", "main", labels=labels)
    report = invoke("report", "--base", "main", labels=labels)

    assert gate.exit_code == 0
    assert "promote (override): label `allow-regression` accepts ROC AUC fell" in gate.output
    assert report.exit_code == 0
    comment = REPORT.read_text()
    assert "regression accepted with the `allow-regression` label" in comment
    assert f"ROC AUC fell by {worse_by(worse_repo)[0]:.4f}" in comment
    # Without the label the same PR is blocked, and the comment says how to override.
    assert invoke("gate", "--base", "main", labels="documentation").exit_code == 1
    invoke("report", "--base", "main")
    assert "Model report: blocked" in REPORT.read_text()
    assert "adds the `allow-regression` label" in REPORT.read_text()


def test_the_params_option_is_the_file_for_the_bounds_and_the_data_window(worse_repo):
    # A second parameters file on both sides: a looser gate, and a window that differs.
    loose = yaml.safe_load((worse_repo / "params.yaml").read_text())
    loose["gate"].update(max_roc_auc_drop=0.5, max_brier_increase=0.5)
    run(worse_repo, "git", "checkout", "-q", "main")
    (worse_repo / "ci-params.yaml").write_text(yaml.safe_dump(loose, sort_keys=False))
    commit(worse_repo, "main: a parameters file for CI")
    run(worse_repo, "git", "checkout", "-q", "worse")
    loose["data"]["end"] = "2013-04"
    (worse_repo / "ci-params.yaml").write_text(yaml.safe_dump(loose, sort_keys=False))

    assert invoke("gate", "--base", "main").exit_code == 1
    gate = invoke("gate", "--base", "main", "--params", "ci-params.yaml")
    report = invoke("report", "--base", "main", "--params", str(worse_repo / "ci-params.yaml"))

    assert gate.exit_code == 0, gate.output
    assert report.exit_code == 0, report.output
    comment = REPORT.read_text()
    assert (
        "| Data window (train + test month) | 2013-02 .. 2013-03 | 2013-02 .. 2013-04 |" in comment
    )
    assert "The data window changed" in comment
