"""Packaging: provenance travels with the model, a stale model is refused, the Bento builds."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import bentoml
import pytest
import sklearn
import yaml
from support.serving import REPO, git_repo_with_one_commit, write_model

from contrail.serving.package import (
    GOLDENS_FILE,
    PackagingError,
    build_bento,
    file_md5,
    git_commit,
    import_model,
)


def test_the_stored_model_carries_provenance_labels_and_metadata(
    packaged_model, pipeline_dir, git_repo
):
    md5 = hashlib.md5((pipeline_dir / "models/model.joblib").read_bytes()).hexdigest()
    _, commit = git_repo
    stored = bentoml.models.get(packaged_model)
    metadata, labels = stored.info.metadata, stored.info.labels
    assert packaged_model == f"flight-delay:{md5[:16]}"
    assert metadata["dvc_model_md5"] == md5
    assert (metadata["git_commit"], labels["git_commit"]) == (commit, commit[:12])
    # The fixtures train on Jan-Feb 2013 (March is the test month).
    assert (metadata["train_start"], metadata["train_end"]) == ("2013-01", "2013-02")
    assert labels["train_window"] == "2013-01..2013-02"
    assert metadata["metrics"] == {"roc_auc": 0.7, "f1": 0.5}
    assert metadata["sklearn_version"] == labels["sklearn_version"] == sklearn.__version__


def test_the_commit_is_marked_dirty_only_when_a_tracked_file_changed(tmp_path):
    commit = git_repo_with_one_commit(tmp_path)
    (tmp_path / "untracked.txt").write_text("new")
    assert git_commit(tmp_path) == commit
    (tmp_path / "tracked.txt").write_text("v2\n")
    assert git_commit(tmp_path) == f"{commit}-dirty"


def test_importing_the_same_model_again_reuses_its_tag(
    packaged_model, trained_model, raw_test, tmp_path
):
    directory = write_model(trained_model, tmp_path)
    again = import_model(
        directory / "models",
        lock_path=directory / "dvc.lock",
        metrics_path=directory / "metrics.json",
        read_raw_sample=lambda: raw_test,
        repo=REPO,
    )
    assert again == packaged_model


def test_a_model_that_dvc_lock_does_not_describe_is_refused(trained_model, raw_test, tmp_path):
    directory = write_model(trained_model, tmp_path)
    lock = directory / "dvc.lock"
    lock.write_text(lock.read_text().replace(file_md5(directory / "models/model.joblib"), "0" * 32))
    with pytest.raises(PackagingError, match=r"is not the model .* records"):
        import_model(
            directory / "models",
            lock_path=lock,
            metrics_path=directory / "metrics.json",
            read_raw_sample=lambda: raw_test,
            repo=REPO,
        )


def test_bentofile_pins_the_versions_this_environment_runs():
    pins = yaml.safe_load((REPO / "bentofile.yaml").read_text())["python"]["packages"]
    for pin in pins:
        name, pinned = pin.split("==")
        assert version(name) == pinned, (
            f"bentofile.yaml pins {pin}, uv.lock installs {version(name)}"
        )


def test_package_builds_a_bento_that_declares_the_model(packaged_model):
    bento_tag = build_bento(REPO, packaged_model)
    info = yaml.safe_load((Path(bentoml.get(bento_tag).path) / "bento.yaml").read_text())
    (service,) = info["services"]
    assert [m["tag"] for m in service["models"]] == [packaged_model]


def test_a_model_from_another_scikit_learn_is_refused_before_any_worker_starts(
    packaged_model, tmp_path
):
    source = Path(bentoml.models.get(packaged_model).path)
    with bentoml.models.create("flight-delay:other-sklearn") as stored:
        for path in source.iterdir():
            (Path(stored.path) / path.name).write_bytes(path.read_bytes())
        card = json.loads((source / "model.json").read_text())
        (Path(stored.path) / "model.json").write_text(
            json.dumps({**card, "sklearn_version": "0.24.2"})
        )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bentoml",
            "serve",
            "contrail.serving.service:FlightDelay",
            "--port",
            "0",
        ],
        env={**os.environ, "CONTRAIL_MODEL_TAG": "flight-delay:other-sklearn"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "trained with scikit-learn 0.24.2" in result.stderr + result.stdout


def test_a_stored_model_missing_a_file_is_stored_again_complete(
    packaged_model, pipeline_dir, raw_test, git_repo
):
    """A store entry from an older contrail (no goldens) is replaced, not served incomplete."""
    goldens = Path(bentoml.models.get(packaged_model).path_of(GOLDENS_FILE))
    expected = goldens.read_bytes()
    goldens.unlink()
    again = import_model(
        pipeline_dir / "models",
        lock_path=pipeline_dir / "dvc.lock",
        metrics_path=pipeline_dir / "metrics.json",
        read_raw_sample=lambda: raw_test,
        repo=git_repo[0],
    )
    assert again == packaged_model
    assert Path(bentoml.models.get(again).path_of(GOLDENS_FILE)).read_bytes() == expected
