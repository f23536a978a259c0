"""`dvc repro` end to end in a throwaway git repository, on a small CSV cut from the real data.

One repository is built per module and the tests run in file order, each leaving it as found:
reproducible metrics, selective reruns, DVC's experiment/diff commands, and failures that
keep the last good model and reports.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from support.pipeline_repo import (
    REPO_ROOT,
    SOURCE,
    digest,
    reproduced_repo,
    run,
    tracked_outputs,
)

pytestmark = pytest.mark.e2e

MODEL = Path("models/model.joblib")
METRICS = Path("reports/evaluation/metrics.json")
DRIFT = Path("reports/drift.json")
VALIDATION = Path("reports/validation.md")
FAILURES = Path("reports/failed/validation.md")


def edit_params(repo: Path, section: str, key: str, value: object) -> None:
    path = repo / "params.yaml"
    params = yaml.safe_load(path.read_text())
    params[section][key] = value
    path.write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture(scope="module")
def repo(tmp_path_factory, raw_sample) -> Path:
    """A git + DVC repository with the project's pipeline, reproduced once and committed."""
    return reproduced_repo(tmp_path_factory.mktemp("pipeline"), raw_sample)


def test_repro_is_deterministic_and_leaves_git_clean(repo):
    assert json.loads((repo / METRICS).read_text())["model"]["roc_auc"] > 0.6
    first = tracked_outputs(repo)
    run(repo, "dvc", "repro", "--force")
    assert tracked_outputs(repo) == first
    assert run(repo, "git", "status", "--porcelain").stdout == ""
    assert "up to date" in run(repo, "dvc", "status").stdout


def test_drift_report_renders_evidently_html_beside_the_pipeline(repo):
    before = tracked_outputs(repo)
    run(repo, "contrail", "drift-report")
    html = (repo / "reports/drift.html").read_text()
    assert "<title>Data drift (Evidently) on a seeded sample" in html
    assert "Dataset Drift" in html  # Evidently's own widget, not a page of ours
    # Not a pipeline output: the pipeline is still up to date, and git ignores the page.
    assert tracked_outputs(repo) == before
    assert "up to date" in run(repo, "dvc", "status").stdout
    run(REPO_ROOT, "git", "check-ignore", "--quiet", "reports/drift.html")


def test_editing_one_stage_module_invalidates_only_that_stage(repo):
    module = repo / "src/contrail/stages/drift.py"
    original = module.read_text()
    module.write_text(original + "# a comment\n")
    status = json.loads(run(repo, "dvc", "status", "--json").stdout)
    module.write_text(original)
    assert set(status) == {"drift"}


def test_misspelt_params_section_stops_repro_naming_it(repo):
    path = repo / "params.yaml"
    original = path.read_text()
    path.write_text(original + "trian:\n  learning_rate: 0.05\n")  # meant `train:`
    result = run(repo, "dvc", "repro", check=False)
    path.write_text(original)
    assert result.returncode != 0
    assert "trian: Extra inputs are not permitted" in result.stderr


def test_hyperparameter_experiment_reruns_only_dependent_stages(repo):
    output = run(repo, "dvc", "exp", "run", "--set-param", "train.learning_rate=0.2").stdout
    # check-params validates the whole file after any change to it; the rest is exact.
    assert set(re.findall(r"Running stage '([\w-]+)'", output)) == {
        "check-params",
        "train",
        "evaluate",
    }
    experiments = json.loads(run(repo, "dvc", "exp", "show", "--json").stdout)
    assert "model" in json.dumps(experiments) and "roc_auc" in json.dumps(experiments)
    (name,) = run(repo, "dvc", "exp", "ls", "--name-only").stdout.split()
    run(repo, "dvc", "exp", "apply", name)
    run(repo, "git", "commit", "-qam", "faster learning rate")
    params_diff = json.loads(run(repo, "dvc", "params", "diff", "HEAD~1", "--json").stdout)
    change = params_diff["params.yaml"]["train.learning_rate"]
    assert (change["old"], change["new"]) == (0.1, 0.2)
    metrics_diff = json.loads(run(repo, "dvc", "metrics", "diff", "HEAD~1", "--json").stdout)
    assert "model.roc_auc" in metrics_diff[str(METRICS)]
    assert "ROC" in run(repo, "dvc", "plots", "diff", "HEAD~1", "--json").stdout
    run(repo, "git", "reset", "-q", "--hard", "HEAD~1")
    run(repo, "dvc", "checkout", "-q")


def test_corrupted_data_fails_validation_and_keeps_the_model(repo):
    """Cases of bad data, one by one, are in test_bad_data.py."""
    model, metrics = digest(repo / MODEL), (repo / METRICS).read_text()
    report = (repo / VALIDATION).read_bytes()
    source = repo / SOURCE
    original = source.read_text()
    source.write_text(original.replace(",UA,", ",U@,", 3))
    lines = [n for n, line in enumerate(source.read_text().splitlines(), 1) if ",U@," in line]
    result = run(repo, "dvc", "repro", check=False)
    source.write_text(original)
    assert result.returncode != 0
    named = (
        "carrier: not one of 9E, AA, AS, B6, DL, EV, F9, FL, HA, MQ, OO, UA, US, VX, WN, YV "
        + ("(3 row(s)), e.g. " + "; ".join(f"line {n}: U@" for n in lines))
    )
    assert named in result.stderr
    assert named in (repo / FAILURES).read_text()
    assert (repo / VALIDATION).read_bytes() == report
    assert digest(repo / MODEL) == model
    assert (repo / METRICS).read_text() == metrics
    # Back to the good data: it matches dvc.lock, so nothing reruns.
    assert "up to date" in run(repo, "dvc", "status").stdout
    (repo / FAILURES).unlink()  # untracked, and left by the failed run


def test_bad_params_fail_naming_the_key_and_keep_the_model(repo):
    model = digest(repo / MODEL)
    edit_params(repo, "train", "max_iterr", 5)
    result = run(repo, "dvc", "repro", check=False)
    run(repo, "git", "checkout", "params.yaml")
    assert result.returncode != 0
    assert "train.max_iterr: Extra inputs are not permitted" in result.stderr
    assert digest(repo / MODEL) == model
    assert "up to date" in run(repo, "dvc", "status").stdout
