"""`contrail summary` reads the pipeline's files and says what they hold."""

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from contrail.cli import app

ROOT = Path(__file__).resolve().parents[2]
FILES = ("reports/evaluation/metrics.json", "reports/drift.json", "reports/features.json")


@pytest.fixture
def pipeline_files(tmp_path, monkeypatch):
    """The committed pipeline outputs and params, in a scratch working directory."""
    for name in (*FILES, "params.yaml"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)


def test_summary_shows_the_committed_numbers(pipeline_files):
    metrics = json.loads(Path(FILES[0]).read_text())
    drift = json.loads(Path(FILES[1]).read_text())
    drifted = [name for name, f in drift["features"].items() if f["drifted"]]

    result = CliRunner().invoke(app, ["summary"])

    assert result.exit_code == 0
    assert f"ROC AUC {metrics['model']['roc_auc']:.3f} (95% CI" in result.stdout
    assert f"lift {metrics['lift']['roc_auc']:+.3f}" in result.stdout
    assert (
        f"{len(drifted)}/{len(drift['features'])} features ({', '.join(drifted)})" in result.stdout
    )


def test_a_renamed_metric_is_named_not_shown_as_missing(pipeline_files):
    metrics = json.loads(Path(FILES[0]).read_text())
    metrics["model"]["auc"] = metrics["model"].pop("roc_auc")
    Path(FILES[0]).write_text(json.dumps(metrics))

    result = CliRunner().invoke(app, ["summary"])

    assert result.exit_code == 1
    assert "missing ['roc_auc']" in result.output and "unknown ['auc']" in result.output
