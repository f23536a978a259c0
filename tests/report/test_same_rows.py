"""The gate decides on both models scored on the pull request's test rows, nothing else.

The scenario of the bug: the monitor's retraining PR moved the window on by one month, so its
test month (April) is not `main`'s (March), and CI's DVC cache lacked `main`'s model (an older
cache entry, no remote). The two metrics files then say the Brier score rose, although on
April's rows the new model is better. The report must rebuild `main`'s model from its commit
and judge both on April; when that is impossible, the gate cannot decide (exit 2).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from support.pr_repos import (
    METRICS,
    TEST_ROWS,
    ci_checkout,
    commit,
    invoke,
    model_md5,
    predictions,
    quiet_environment,
    run,
)

from contrail.features import LABEL

pytestmark = pytest.mark.e2e

VERDICT = Path("reports/gate.json")
REPORT = Path("reports/pr_report.md")


@pytest.fixture(scope="module")
def retraining(origin, tmp_path_factory) -> dict:
    """CI's checkout of the retraining PR with `main`'s model evicted from the DVC cache, and
    what `make report` (`contrail report`, then `contrail gate --record`) did there."""
    root, commits = origin
    workdir = tmp_path_factory.mktemp("retraining") / "checkout"
    with pytest.MonkeyPatch.context() as monkeypatch:
        quiet_environment(monkeypatch)
        ci_checkout(root, workdir, "retrain", evict="main")
        cached_before = cache_has(workdir, model_md5(root, "main"))
        monkeypatch.chdir(workdir)
        report = invoke("report", "--base", "main")
        record = invoke("gate", "--base", "main", "--record", str(VERDICT))
    return {
        "root": workdir,
        "origin": root,
        "main": commits["main"],
        "cached_before": cached_before,
        "report": report,
        "record": record,
    }


def cache_has(root: Path, md5: str) -> bool:
    return (root / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]).is_file()


def test_the_retraining_pr_is_judged_against_mains_model_on_its_own_test_month(retraining):
    root = retraining["root"]
    # Scored here: `main`'s model as the origin's DVC cache has it (not the rebuilt one) and
    # the PR's model, both on the PR's test rows (April).
    y = pd.read_parquet(root / TEST_ROWS)[LABEL].to_numpy(dtype=int)
    p_main = predictions(retraining["origin"], "main", root / TEST_ROWS)
    p_pr = predictions(root, None, root / TEST_ROWS)
    paired_auc = roc_auc_score(y, p_pr) - roc_auc_score(y, p_main)
    paired_brier = np.mean((p_pr - y) ** 2) - np.mean((p_main - y) ** 2)
    base_file = json.loads(run(root, "git", "show", "main:reports/evaluation/metrics.json"))
    pr_file = json.loads((root / METRICS).read_text())
    files_brier = pr_file["model"]["brier"] - base_file["model"]["brier"]
    # The bug's preconditions: the files (March vs April) show a Brier rise beyond the 0.002
    # bound, which the old fallback blocked on; on April's rows the new model is better.
    assert files_brier > 0.002, files_brier
    assert paired_brier < 0 and paired_auc > 0, (paired_brier, paired_auc)

    assert retraining["record"].exit_code == 0, retraining["record"].output
    verdict = json.loads((root / VERDICT).read_text())
    assert verdict["promote"] is True and verdict["undecided"] == ""
    assert verdict["failures"] == []
    assert verdict["checks"][1:] == [
        f"ROC AUC {paired_auc:+.4f} against `main` on the same test rows",
        f"Brier score {paired_brier:+.4f} against `main` on the same test rows",
    ]
    assert retraining["report"].exit_code == 0, retraining["report"].output
    comment = (root / REPORT).read_text()
    assert comment.startswith("## ✅ Model report: promote\n")
    brier_row = next(r for r in comment.splitlines() if r.startswith("| Brier score"))
    assert brier_row.split("|")[4].strip() == f"{paired_brier:+.4f}"
    assert f"_Both models scored on the same {len(y):,} test rows" in comment


def test_mains_model_is_rebuilt_byte_identical_into_the_cache_and_the_worktree_removed(
    retraining,
):
    root, md5 = retraining["root"], model_md5(retraining["origin"], "main")

    assert not retraining["cached_before"]
    # `dvc repro` of the train stage at main, sharing this checkout's cache, wrote main's
    # model with the md5 its dvc.lock records: `contrail gate --record` then found it there.
    assert cache_has(root, md5)
    source = f"rebuilt from {retraining['main'][:8]}, identical to its dvc.lock (md5 {md5})"
    assert f"`main`'s model: {source}" in (root / REPORT).read_text()
    assert f"contrail report: `main`'s model {source}" in retraining["report"].stderr
    assert run(root, "git", "worktree", "list").count("\n") == 0  # only the checkout itself
    assert run(root, "git", "status", "--porcelain", "--untracked-files=no") == ""


def test_a_base_whose_model_can_be_neither_fetched_nor_rebuilt_leaves_the_gate_undecided(
    origin, tmp_path, monkeypatch
):
    root, commits = origin
    # `broken` is main with a misspelt train parameter: its own `dvc repro` fails.
    quiet_environment(monkeypatch)
    workdir = ci_checkout(root, tmp_path / "checkout", "retrain", evict="main")
    monkeypatch.chdir(workdir)

    gate = invoke("gate", "--base", "broken")
    record = invoke("gate", "--base", "broken", "--record", str(VERDICT))
    report = invoke("report", "--base", "broken")
    judged = invoke(
        "gate", "--verdict", str(VERDICT), "--comment", "comment.md", labels="allow-regression"
    )

    why = (
        "`broken`'s model cannot be obtained: it is in neither the DVC cache nor a DVC remote, "
        f"and rebuilding it from {commits['broken'][:8]} failed: `dvc repro train`: "
    )
    assert gate.exit_code == 2, gate.output
    (line,) = gate.stderr.strip().splitlines()
    assert line.startswith(f"contrail gate: cannot decide: {why}"), line
    assert "learning_rat" in line  # the stage's own error, not just "failed"
    assert (record.exit_code, report.exit_code) == (0, 0), record.output + report.output
    verdict = json.loads(VERDICT.read_text())
    assert verdict["undecided"].startswith(why)
    assert (verdict["promote"], verdict["failures"], verdict["checks"]) == (False, [], [])
    # The override label does not turn "cannot decide" into a pass.
    assert judged.exit_code == 2, judged.output
    comment = Path("comment.md").read_text()
    assert comment.startswith(f"> ⚠️ **Promotion gate:** cannot decide: {why}")
    assert "## ⚠️ Model report: the gate cannot decide" in comment
    assert "**not comparable**, so no Δ" in comment
    assert "against `broken`" not in comment  # no delta was judged
    assert run(workdir, "git", "worktree", "list").count("\n") == 0


def test_a_rebuilt_model_unlike_the_one_its_dvc_lock_records_is_said_so_and_still_paired(
    origin, tmp_path, monkeypatch
):
    root, _ = origin
    quiet_environment(monkeypatch)
    workdir = ci_checkout(root, tmp_path / "checkout", "retrain", evict="main")
    # A base whose dvc.lock records a model its own pipeline does not produce.
    recorded, rebuilt = "f" * 32, model_md5(root, "main")
    run(workdir, "git", "checkout", "-q", "-b", "elsewhere", "main")
    lock = workdir / "dvc.lock"
    lock.write_text(lock.read_text().replace(rebuilt, recorded))
    sha = commit(workdir, "elsewhere: dvc.lock records another model")
    run(workdir, "git", "checkout", "-q", "retrain")
    monkeypatch.chdir(workdir)

    report = invoke("report", "--base", "elsewhere")

    assert report.exit_code == 0, report.output
    comment = REPORT.read_text()
    assert (
        f"`elsewhere`'s model: rebuilt from {sha[:8]}, but not identical to the model its "
        f"dvc.lock records (md5 {rebuilt}, recorded {recorded}): the pipeline did not "
        "reproduce it exactly."
    ) in comment
    # Still judged on the same rows: it is the model the base's code and params produce.
    verdict = comment.splitlines()[2]
    assert verdict.startswith("**Verdict:** promote: "), verdict
    assert "against `elsewhere` on the same test rows" in verdict
