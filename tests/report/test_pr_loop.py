"""`contrail report` and `contrail gate` in throwaway git + DVC repositories.

The first tests write the pipeline's outputs by hand (fast, exact numbers for the gate's
bounds); the last group runs the real pipeline on `main` and on a branch that changes a
hyperparameter and the data window, and checks the comment against the files it reports on.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from contrail.features import LABEL
from contrail.metrics import HEADLINE_METRICS
from contrail.report.cli import report_app
from contrail.report.compare import flatten
from contrail.report.markdown import metric_label

pytestmark = pytest.mark.e2e

PROJECT = Path(__file__).resolve().parents[2]
FEATURES = ["carrier", "origin", "temp", "wind_speed"]
REPORT = Path("reports/pr_report.md")
SOURCE = Path("data/source/flights.csv")
METRICS = Path("reports/evaluation/metrics.json")
LINK = re.compile(r"\]\(([^)]+)\)")


def run(root: Path, *args: str) -> str:
    """A command in `root` with this environment's `contrail` and `dvc` first on PATH."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(args, cwd=root, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout.strip()


def commit(root: Path, message: str) -> str:
    run(root, "git", "add", "-A")
    run(root, "git", "commit", "-q", "-m", message)
    return run(root, "git", "rev-parse", "HEAD")


def set_params(root: Path, **sections: dict) -> None:
    path = root / "params.yaml"
    params = yaml.safe_load(path.read_text())
    for section, values in sections.items():
        params[section].update(values)
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def invoke(*args: str, labels: str = ""):
    result = CliRunner().invoke(report_app, list(args), env={"CONTRAIL_PR_LABELS": labels})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def init_repo(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GIT_AUTHOR", "GIT_COMMITTER"):
        monkeypatch.setenv(f"{name}_NAME", "test")
        monkeypatch.setenv(f"{name}_EMAIL", "test@example.com")
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    for name in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    run(root, "git", "init", "-q", "-b", "main")
    run(root, "dvc", "init", "-q")
    for name in ("dvc.yaml", "params.yaml", ".dvcignore", ".dvc/plots/confusion_counts.json"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT / name, root / name)


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


def test_a_regression_beyond_tolerance_blocks_with_a_one_line_reason(repo):
    write_outputs(repo, roc_auc=0.74, brier=0.18)  # tolerance is 0.005

    result = invoke("gate", "--base", "main")

    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "contrail gate: blocked: ROC AUC fell by 0.0100 against `main` (at most 0.0050 allowed)"
    ]


def test_worse_calibration_blocks(repo):
    write_outputs(repo, roc_auc=0.75, brier=0.19)

    result = invoke("gate", "--base", "main")

    assert result.exit_code == 1
    assert "Brier score rose by 0.0100 against `main` (at most 0.0020 allowed)" in result.stderr


def test_a_drop_within_tolerance_promotes(repo):
    write_outputs(repo, roc_auc=0.747, brier=0.181)

    assert invoke("gate", "--base", "main").exit_code == 0


def test_the_override_label_lets_a_regression_pass_and_the_comment_says_so(repo):
    write_outputs(repo, roc_auc=0.70, brier=0.18)
    labels = json.dumps(["documentation", "allow-regression"])

    gate = invoke("gate", "--base", "main", labels=labels)
    report = invoke("report", "--base", "main", labels=labels)

    assert gate.exit_code == 0
    assert "promote (override): label `allow-regression` accepts ROC AUC fell" in gate.output
    assert report.exit_code == 0
    comment = REPORT.read_text()
    assert "regression accepted with the `allow-regression` label" in comment
    assert "ROC AUC fell by 0.0500" in comment
    # Without the label the same PR is blocked, and the comment says how to override.
    assert invoke("gate", "--base", "main", labels="documentation").exit_code == 1
    invoke("report", "--base", "main")
    assert "Model report: blocked" in REPORT.read_text()
    assert "adds the `allow-regression` label" in REPORT.read_text()


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
    assert f"| {metric_label('model.roc_auc')} | n/a | 0.7000 | n/a |" in comment
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


def test_a_base_with_another_metrics_format_is_named_and_blocks_until_accepted(repo):
    # main was evaluated by code that called the lift `roc_auc_gain`; this PR's code and
    # metrics file use the current names.
    rename_metric(repo, "lift", "roc_auc", "roc_auc_gain")
    commit(repo, "main: old metrics format")
    run(repo, "git", "branch", "-f", "main", "HEAD")
    write_outputs(repo, roc_auc=0.75, brier=0.18)

    report = invoke("report", "--base", "main")
    gate = invoke("gate", "--base", "main")
    accepted = invoke("gate", "--base", "main", labels="allow-regression")

    assert report.exit_code == 0, report.output
    comment = REPORT.read_text()
    problem = f"{METRICS} at `main`: section 'lift' should have roc_auc; missing ['roc_auc'], unknown ['roc_auc_gain']"
    assert f"**The metrics files differ in format:** {problem}" in comment
    assert "First model" not in comment
    assert gate.exit_code == 1
    assert (
        gate.stderr.strip()
        == f"contrail gate: blocked: `main`'s metrics cannot be compared: {problem}"
    )
    assert accepted.exit_code == 0


def test_the_params_option_is_the_file_for_the_bounds_and_the_data_window(repo):
    # A second parameters file on both sides: a looser gate and a different window.
    alternative = yaml.safe_load((repo / "params.yaml").read_text())
    alternative["data"].update(start="2013-02", end="2013-04")
    alternative["gate"]["max_roc_auc_drop"] = 0.02
    (repo / "ci-params.yaml").write_text(yaml.safe_dump(alternative, sort_keys=False))
    commit(repo, "pr: a parameters file for CI")
    run(repo, "git", "branch", "-f", "main", "HEAD")
    alternative["data"]["end"] = "2013-05"
    (repo / "ci-params.yaml").write_text(yaml.safe_dump(alternative, sort_keys=False))
    write_outputs(repo, roc_auc=0.74, brier=0.18)  # blocked by params.yaml, not by ci-params

    assert invoke("gate", "--base", "main").exit_code == 1
    gate = invoke("gate", "--base", "main", "--params", "ci-params.yaml")
    report = invoke("report", "--base", "main", "--params", str(repo / "ci-params.yaml"))

    assert gate.exit_code == 0, gate.output
    assert report.exit_code == 0, report.output
    comment = REPORT.read_text()
    assert (
        "| Data window (train + test month) | 2013-02 .. 2013-04 | 2013-02 .. 2013-05 |" in comment
    )
    assert "The data window changed" in comment


def test_an_unknown_base_is_an_error_not_a_verdict(repo):
    result = invoke("gate", "--base", "no-such-branch")

    assert result.exit_code == 2
    assert "unknown base revision 'no-such-branch'" in result.stderr


# --- The real pipeline: main and a branch that changes a hyperparameter and the window ---


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, raw_sample) -> dict[str, str | Path]:
    """A scaffold commit (no results), `main` after `dvc repro` on Jan-Feb, and branch `pr`
    with a smaller learning rate and a Jan-Mar window, reproduced and committed."""
    root = tmp_path_factory.mktemp("pipeline")
    with pytest.MonkeyPatch.context() as monkeypatch:
        init_repo(root, monkeypatch)
        shutil.copytree(PROJECT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
        # Own data lives in data/source/, which the ingest stage depends on.
        (root / SOURCE).parent.mkdir(parents=True)
        raw_sample.to_csv(root / SOURCE, index=False)
        set_params(
            root,
            data={"source": str(SOURCE), "start": "2013-01", "end": "2013-02"},
            evaluate={"bootstrap_samples": 50, "importance_rows": 500, "importance_repeats": 1},
        )
        scaffold = commit(root, "pipeline, no results yet")
        run(root, "dvc", "repro")
        commit(root, "main: first model")
        run(root, "git", "checkout", "-q", "-b", "pr")
        set_params(root, data={"end": "2013-03"}, train={"learning_rate": 0.05})
        run(root, "dvc", "repro")
        commit(root, "pr: lower learning rate, one more month")
    return {"root": root, "scaffold": scaffold}


@pytest.fixture
def pipeline_repo(pipeline, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    for name in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(pipeline["root"])
    return pipeline["root"]


def metric_cells(comment: str, label: str) -> list[str]:
    row = next(line for line in comment.splitlines() if line.startswith(f"| {label} |"))
    return [c.strip() for c in row.strip("|").split("|")]


SIGNED = re.compile(r"[+-]\d+(?:\.\d+)?")


def predictions(root: Path, rev: str | None) -> np.ndarray:
    """The model at `rev` (None: the workspace's), loaded with joblib and applied to the
    workspace's test rows: the rows the gate compares both models on."""
    import dvc.api

    model = Path("models/model.joblib")
    card = json.loads(run(root, "git", "show", f"{rev}:models/model.json") if rev else
                      (root / "models/model.json").read_text())  # fmt: skip
    if rev is None:
        pipeline = joblib.load(root / model)
    else:
        with dvc.api.open(str(model), repo=str(root), rev=rev, mode="rb") as f:
            pipeline = joblib.load(f)
    test = pd.read_parquet(root / "data/features/test.parquet")
    return pipeline.predict_proba(test[card["features"]])[:, 1]


def expected_failures(gate: dict, lift: float, deltas: dict[str, float] | None) -> list[str]:
    """The params.yaml rule applied by hand: which bounds the PR breaks."""
    failures = [] if lift >= gate["min_lift"] else ["lift"]
    if deltas is not None:
        # Rounded as the files are (6 decimals), so a drop of exactly the bound passes.
        if round(-deltas["model.roc_auc"], 9) > gate["max_roc_auc_drop"]:
            failures.append("roc_auc")
        if round(deltas["model.brier"], 9) > gate["max_brier_increase"]:
            failures.append("brier")
    return failures


def test_report_on_a_real_branch_matches_the_files_it_compares(pipeline_repo):
    root = pipeline_repo
    base_metrics = json.loads(run(root, "git", "show", "main:reports/evaluation/metrics.json"))
    pr_metrics = json.loads((root / METRICS).read_text())
    base_drift = json.loads(run(root, "git", "show", "main:reports/drift.json"))
    pr_drift = json.loads((root / "reports/drift.json").read_text())
    gate_bounds = yaml.safe_load((root / "params.yaml").read_text())["gate"]
    # Both models on the PR's test rows, scored here with scikit-learn.
    y = pd.read_parquet(root / "data/features/test.parquet")[LABEL].to_numpy(dtype=int)
    p_base, p_pr = predictions(root, "main"), predictions(root, None)
    paired = {
        "model.roc_auc": roc_auc_score(y, p_pr) - roc_auc_score(y, p_base),
        "model.brier": np.mean((p_pr - y) ** 2) - np.mean((p_base - y) ** 2),
    }

    report = invoke("report", "--base", "main")
    gate = invoke("gate", "--base", "main")

    assert report.exit_code == 0, report.output
    comment = REPORT.read_text()
    assert len(comment) < 65_536
    base_flat, pr_flat = flatten(base_metrics), flatten(pr_metrics)
    assert set(base_flat) == set(pr_flat)
    headline = {m.key for m in HEADLINE_METRICS}
    for name, pr_value in pr_flat.items():
        if name in headline:
            # First table: both files and their Δ at 4 decimals.
            _, base, pr, delta, _ = metric_cells(comment, metric_label(name))
            assert (base, pr) == (f"{base_flat[name]:.4f}", f"{pr_value:.4f}"), name
            assert delta == f"{pr_value - base_flat[name]:+.4f}", name
        else:
            _, base, pr, delta = metric_cells(comment, metric_label(name))
            assert float(base) == base_flat[name], name
            assert float(pr) == pr_value, name
            assert float(delta) == pytest.approx(pr_value - base_flat[name], abs=1e-6), name
    # The last column is the paired comparison: the deltas computed above, bracketed by
    # their interval, on every test row.
    for name, expected in paired.items():
        _, _, _, file_delta, interval = metric_cells(comment, metric_label(name))
        numbers = [float(x) for x in SIGNED.findall(interval)]
        # Its own Δ is shown only where it differs from the files' at 4 decimals.
        delta, low, high = numbers if len(numbers) == 3 else [float(file_delta), *numbers]
        assert delta == pytest.approx(expected, abs=5e-5), name
        assert low - 5e-5 <= delta <= high + 5e-5, name
        assert interval.endswith(f"(paired, {len(y):,} rows)"), name
    assert f"**paired bootstrap** of both models on the same {len(y):,} test rows" in comment
    assert len(y) == pr_metrics["test"]["rows"]

    assert "| data.end | 2013-02 | 2013-03 |" in comment
    assert "| train.learning_rate | 0.1 | 0.05 |" in comment
    assert "The data window changed" in comment

    for feature in pr_drift["features"]:
        cells = metric_cells(comment, feature)
        assert float(cells[3]) == round(base_drift["features"][feature]["score"], 4)
        assert float(cells[5]) == round(pr_drift["features"][feature]["score"], 4)

    # The verdict is the params.yaml rule applied to the numbers above.
    failures = expected_failures(gate_bounds, pr_metrics["lift"]["roc_auc"], paired)
    assert gate.exit_code == (1 if failures else 0), (failures, gate.output)
    verdict = "❌ Model report: blocked" if failures else "✅ Model report: promote"
    assert f"## {verdict}" in comment
    if "roc_auc" in failures:
        assert f"ROC AUC fell by {-paired['model.roc_auc']:.4f}" in gate.stderr

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


def test_report_against_a_revision_before_any_results(pipeline, pipeline_repo):
    root = pipeline_repo
    pr_metrics = json.loads((root / METRICS).read_text())
    gate_bounds = yaml.safe_load((root / "params.yaml").read_text())["gate"]

    report = invoke("report", "--base", pipeline["scaffold"])
    gate = invoke("gate", "--base", pipeline["scaffold"])

    assert report.exit_code == 0, report.output
    comment = REPORT.read_text()
    assert "First model" in comment
    for name, pr_value in flatten(pr_metrics).items():
        cells = metric_cells(comment, metric_label(name))
        if name in {m.key for m in HEADLINE_METRICS}:
            assert cells[1:3] == ["n/a", f"{pr_value:.4f}"], name
        else:
            assert (cells[1], float(cells[2])) == ("n/a", pr_value), name
    # A first model is judged on its lift over the naive baseline alone.
    failures = expected_failures(gate_bounds, pr_metrics["lift"]["roc_auc"], None)
    assert gate.exit_code == (1 if failures else 0), gate.output
    assert not LINK.findall(comment)
    # Opt-in: the interactive charts linked, a file that exists.
    linked = invoke("report", "--base", pipeline["scaffold"], "--link-plots")
    assert linked.exit_code == 0, linked.output
    links = LINK.findall(REPORT.read_text())
    assert links == [f"{REPORT.stem}/plots/index.html"]
    assert (REPORT.parent / links[0]).is_file()
