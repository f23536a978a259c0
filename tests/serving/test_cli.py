"""`contrail serve` and `contrail package` import the model; the raw data only when they must."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

import bentoml
import pytest
from support.serving import write_model

from contrail import paths
from contrail.serving.commands import import_pipeline_model
from contrail.serving.package import VERIFICATION_FILE, PackagingError, read_verification


def test_a_model_already_in_the_store_is_served_without_the_raw_data(
    pipeline_dir, packaged_model, monkeypatch
):
    monkeypatch.chdir(pipeline_dir)  # models/ and dvc.lock, as in a checkout; no data/raw
    assert not paths.RAW_WINDOW.exists()
    assert import_pipeline_model() == packaged_model


def test_a_new_model_is_imported_with_a_sample_of_the_raw_data(
    trained_model, raw_test, tmp_path, monkeypatch
):
    # Same fit, other bytes: a model the store does not hold yet.
    pipeline = copy.deepcopy(trained_model.pipeline).set_params(classify__verbose=1)
    write_model(replace(trained_model, pipeline=pipeline), tmp_path)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PackagingError) as refused:
        import_pipeline_model()
    assert f"{paths.RAW_WINDOW} is missing" in str(refused.value)
    paths.RAW_WINDOW.parent.mkdir(parents=True)
    raw_test.to_parquet(paths.RAW_WINDOW)
    stored = bentoml.models.get(import_pipeline_model())
    # The rows the service checks its fast path on at start-up come from that raw file.
    verification = read_verification(Path(stored.path_of(VERIFICATION_FILE)))
    key = ["year", "month", "day", "carrier", "flight", "sched_dep_time"]
    known = set(raw_test[key].itertuples(index=False))
    assert len(verification) == 64
    assert set(verification[key].itertuples(index=False)) <= known
