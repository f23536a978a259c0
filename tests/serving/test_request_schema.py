"""The request schema is the data contract plus the feature list: it cannot drift from either."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pandera.errors import SchemaErrors
from pydantic import ValidationError
from serving_support import as_flights

from contrail.data.schema import CARRIERS, ORIGINS, raw_schema
from contrail.features import required_inputs
from contrail.serving.schema import REQUEST_COLUMNS, Flight, PredictRequest, field_path


def test_request_fields_are_the_raw_inputs_of_the_configured_features(params):
    assert list(Flight.model_fields) == required_inputs(params.features.columns)
    assert list(Flight.model_fields) == REQUEST_COLUMNS


CONTRACT = raw_schema(min_rows=1).columns
COLUMN_CONTRACT = pa.DataFrameSchema({c: CONTRACT[c] for c in REQUEST_COLUMNS})


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
rows = st.fixed_dictionaries({c: _value(c) for c in REQUEST_COLUMNS if c != "day"}).map(
    lambda row: {**row, "day": 1}
)


@settings(max_examples=150, deadline=None)
@given(rows)
def test_api_accepts_a_flight_exactly_when_the_data_contract_does(row):
    try:
        Flight.model_validate(row)
        api_accepts = True
    except ValidationError:
        api_accepts = False
    try:
        COLUMN_CONTRACT.validate(pd.DataFrame([row]), lazy=True)
        contract_accepts = True
    except (SchemaErrors, TypeError, ValueError):
        contract_accepts = False
    assert api_accepts == contract_accepts


def test_a_date_that_does_not_exist_is_rejected_on_the_day_field(raw_test):
    (flight,) = as_flights(raw_test.head(1))
    with pytest.raises(ValidationError) as info:
        Flight.model_validate({**flight, "year": 2013, "month": 2, "day": 30})
    assert [e["loc"] for e in info.value.errors()] == [("day",)]


def test_error_paths_read_like_the_json_they_point_at():
    assert field_path(("flights", 3, "carrier")) == "flights[3].carrier"
    assert field_path(()) == "<body>"
    with pytest.raises(ValidationError) as info:
        PredictRequest.model_validate_json(b'{"flights": [], "x": 1}')
    assert {field_path(e["loc"]) for e in info.value.errors()} == {"flights", "x"}
