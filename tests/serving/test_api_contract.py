"""The request schema is the data contract plus the feature list: it cannot drift from either."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pandera.errors import SchemaErrors
from pydantic import ValidationError
from support.serving import as_flights

from contrail.data.schema import CARRIERS, ORIGINS, raw_schema
from contrail.features import FEATURES
from contrail.serving.api_contract import field_path, request_schema

# The README's list: what a flight must carry for the repository's default features.
DEFAULT_INPUTS = ["carrier", "origin", "dest", "sched_dep_time", "sched_arr_time", "year", "month", "day", "distance", "temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip", "pressure", "visib"]  # fmt: skip


@pytest.fixture(scope="module")
def flight(raw_test, params) -> dict:
    (row,) = as_flights(raw_test.head(1), params.features.columns)
    return row


def test_the_default_features_take_the_readme_fields_in_order(params):
    assert list(request_schema(params.features.columns).flight.model_fields) == DEFAULT_INPUTS


@pytest.mark.parametrize(
    ("dropped", "gone"),
    [("wind_gust", {"wind_gust"}), ("day_of_week", {"year", "month", "day"})],
)
def test_dropping_a_feature_drops_exactly_the_inputs_only_it_needed(params, flight, dropped, gone):
    schema = request_schema([f for f in params.features.columns if f != dropped])
    assert list(schema.flight.model_fields) == [c for c in DEFAULT_INPUTS if c not in gone]
    assert set(schema.dtypes) == set(DEFAULT_INPUTS) - gone
    with pytest.raises(ValidationError) as info:
        schema.request.model_validate({"flights": [flight]})
    assert {(e["loc"], e["type"]) for e in info.value.errors()} == {
        (("flights", 0, column), "extra_forbidden") for column in gone
    }
    trimmed = {k: v for k, v in flight.items() if k not in gone}
    assert schema.request.model_validate({"flights": [trimmed]}).flights[0].model_dump() == trimmed


# The whole contract, every column any feature can ask for.
SCHEMA = request_schema(list(FEATURES))
CONTRACT = raw_schema(min_rows=1).columns
COLUMN_CONTRACT = pa.DataFrameSchema({c: CONTRACT[c] for c in SCHEMA.columns})


def _value(column: str) -> st.SearchStrategy:
    """Values of the right JSON type around and beyond the contract's limits."""
    kind = str(CONTRACT[column].dtype)
    if kind.startswith("int"):
        values = st.integers(-50, 2500) | st.sampled_from([0, 59, 60, 2359, 2360, 1989, 2101])
    elif kind.startswith("float"):
        values = st.floats(-100, 7000, allow_nan=False) | st.sampled_from([-40.0, 0.0, 1.0, 6000.0])
    else:
        values = st.sampled_from([*CARRIERS, *ORIGINS, "ZZ", "zzz", "JFKX", "ABC", ""])
    return st.none() | values if CONTRACT[column].nullable else values


# Dates are kept valid here: the API's extra "the date exists" rule is tested on its own.
rows = st.fixed_dictionaries({c: _value(c) for c in SCHEMA.columns if c != "day"}).map(
    lambda row: {**row, "day": 1}
)


@settings(max_examples=150, deadline=None)
@given(rows)
def test_api_accepts_a_flight_exactly_when_the_data_contract_does(row):
    try:
        SCHEMA.flight.model_validate(row)
        api_accepts = True
    except ValidationError:
        api_accepts = False
    try:
        COLUMN_CONTRACT.validate(pd.DataFrame([row]), lazy=True)
        contract_accepts = True
    except (SchemaErrors, TypeError, ValueError):
        contract_accepts = False
    assert api_accepts == contract_accepts


def test_a_date_that_does_not_exist_is_rejected_on_the_day_field(flight):
    with pytest.raises(ValidationError) as info:
        SCHEMA.flight.model_validate({**flight, "year": 2013, "month": 2, "day": 30})
    assert [e["loc"] for e in info.value.errors()] == [("day",)]


def test_error_paths_read_like_the_json_they_point_at():
    assert field_path(("flights", 3, "carrier")) == "flights[3].carrier"
    assert field_path(()) == "<body>"
    with pytest.raises(ValidationError) as info:
        SCHEMA.request.model_validate_json(b'{"flights": [], "x": 1}')
    assert {field_path(e["loc"]) for e in info.value.errors()} == {"flights", "x"}
