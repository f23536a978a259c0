"""The API contract: pydantic models derived from the raw-data contract and the feature list.

A flight's fields are exactly the raw columns the served model's features need
(`required_inputs(card.features)`), and each field's type, nullability, range, allowed values
and pattern are read from the pandera schema that validates training data. The API therefore
accepts what the model accepts: dropping a feature from params.yaml drops the inputs only it
needed, and a change to the data contract changes the API with it.

Everything is strict: JSON numbers only (no "40"), integers where the contract says int, no
NaN or Infinity, no unknown keys at any level, a calendar date that exists, 1 to
`MAX_BATCH_SIZE` flights. `null` is allowed only where the contract allows missing values
(the weather readings, which the model treats as missing).

Unknown carrier or origin airport: rejected (422), because the data contract rejects them in
training data too. A destination that fits the contract (three capital letters) but that the
model never saw in training is predicted, and the response names it in `unseen`: the trees
send an unseen category down the "missing" branch, which is a legitimate but less informed
prediction the caller should know about.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal, cast

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
)

from contrail.data.schema import _is_hhmm, raw_schema
from contrail.features import required_inputs

# 1,000 flights are about 300 KB of JSON and 25 ms of work: big enough for batch scoring,
# small enough that one request cannot monopolise a worker.
MAX_BATCH_SIZE = 1000
MAX_BODY_BYTES = 2 * 1024 * 1024
# A request with thousands of bad rows gets the first ones named, and the total.
MAX_REPORTED_ERRORS = 20

STRICT = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True)


# The data contract's check, declared for a Series, is elementwise arithmetic: on one int it
# answers for that value.
_is_hhmm_value = cast(Callable[[int], bool], _is_hhmm)


def _valid_hhmm(value: int) -> int:
    if not _is_hhmm_value(value):
        raise ValueError("not a valid HHMM time (hours 00-23, minutes 00-59)")
    return value


# Row-level pandera checks the request enforces with its own validator, by check name.
_CHECK_VALIDATORS = {"valid HHMM time": AfterValidator(_valid_hhmm)}


def _python_type(column: str, dtype: object) -> type:
    name = str(dtype)
    for prefix, python_type in (("int", int), ("float", float), ("str", str)):
        if name.startswith(prefix):
            return python_type
    raise TypeError(f"{column}: no JSON type for the contract's dtype {name}")


def _contract_field(column: str, spec: Any) -> tuple[Any, Any]:
    """(annotation, default) for one column, from its pandera Column: a required field."""
    python_type: Any = _python_type(column, spec.dtype)
    constraints: dict[str, Any] = {}
    validators = []
    for check in spec.checks:
        stats = check.statistics
        if check.name == "in_range":
            constraints["ge" if stats["include_min"] else "gt"] = stats["min_value"]
            constraints["le" if stats["include_max"] else "lt"] = stats["max_value"]
        elif check.name == "isin":
            python_type = Literal[tuple(stats["allowed_values"])]
        elif check.name == "str_matches":
            constraints["pattern"] = stats["pattern"]
        elif check.name in _CHECK_VALIDATORS:
            validators.append(_CHECK_VALIDATORS[check.name])
        else:
            # A new kind of check in the data contract needs a decision here, not silence.
            raise TypeError(f"{column}: no request-side rule for pandera check {check.name!r}")
    annotation: Any = Annotated[python_type, Field(**constraints), *validators]
    if spec.nullable:
        annotation = annotation | None
    return annotation, ...


# Without @classmethod, which mypy rejects outside a class: field_validator applies it itself
# to a function whose first parameter is named `cls`.
@field_validator("day")
def _date_exists(cls: type[BaseModel], day: int, info: ValidationInfo) -> int:
    # pandas would raise on 2013-02-30 deep inside the features: a 500, not the caller's 4xx.
    year, month = info.data.get("year"), info.data.get("month")
    if year is not None and month is not None:
        try:
            datetime.date(year, month, day)
        except ValueError as exc:
            raise ValueError(f"{year:04d}-{month:02d}-{day:02d} is not a date ({exc})") from None
    return day


_NUMPY_DTYPES = {int: "int64", float: "float64", str: "object"}

if TYPE_CHECKING:
    # The models request_schema builds at runtime, as the type checker sees them: a flight's
    # fields follow the served model's features, so a flight is any pydantic model here.
    # Annotations only; they do not exist at runtime.
    FlightBatch = list[BaseModel]

    class PredictRequest(BaseModel):
        flights: FlightBatch


@dataclass(frozen=True)
class RequestSchema:
    """The request models of one feature list: built per served model, not per repository."""

    columns: list[str]
    flight: type[BaseModel]
    batch: Any  # list[flight] of 1 to MAX_BATCH_SIZE flights, for pydantic and BentoML fields
    request: type[PredictRequest]
    dtypes: dict[str, str]  # numpy dtype of each column once parsed (null weather becomes NaN)


def request_schema(features: list[str]) -> RequestSchema:
    """A flight has exactly the raw inputs of `features`, typed and checked by the contract."""
    columns = required_inputs(features)
    contract = raw_schema(min_rows=1).columns
    missing = [c for c in columns if c not in contract]
    if missing:
        raise TypeError(f"features need columns the data contract does not define: {missing}")
    validators = {"date_exists": _date_exists} if {"year", "month", "day"} <= set(columns) else {}
    # Typed as Any: create_model's overloads check `**` entries against its own `__x__` options.
    fields: dict[str, Any] = {
        column: _contract_field(column, contract[column]) for column in columns
    }
    flight: type[BaseModel] = create_model(
        "Flight",
        __config__=STRICT,
        __doc__="One scheduled flight: the raw columns the model's features are computed from.",
        __validators__=validators,
        **fields,
    )
    batch = Annotated[list[flight], Field(min_length=1, max_length=MAX_BATCH_SIZE)]  # type: ignore[valid-type]
    # create_model returns type[BaseModel]; this one has the `flights` field PredictRequest declares.
    request = cast(
        "type[PredictRequest]",
        create_model(
            "PredictRequest",
            __config__=STRICT,
            __doc__="A batch of flights to score.",
            flights=(batch, ...),
        ),
    )
    dtypes = {c: _NUMPY_DTYPES[_python_type(c, contract[c].dtype)] for c in columns}
    return RequestSchema(columns, flight, batch, request, dtypes)


class Prediction(BaseModel):
    probability: float = Field(description="Probability that the flight arrives late.")
    delayed: bool = Field(description="probability >= the model's decision threshold.")
    model_version: str
    unseen: list[str] = Field(
        description="Categorical fields whose value the model never saw in training; "
        "the prediction treats them as missing."
    )


class PredictResponse(BaseModel):
    predictions: list[Prediction]


class Metadata(BaseModel):
    model_version: str
    model_tag: str
    train_start: str
    train_end: str
    train_rows: int
    threshold: float
    features: list[str]
    metrics: dict[str, float]
    git_commit: str
    dvc_model_md5: str
    sklearn_version: str
    max_batch_size: int


class FieldError(BaseModel):
    field: str = Field(description="Path of the offending value, e.g. flights[3].carrier.")
    reason: str


class ErrorResponse(BaseModel):
    error: str
    errors: list[FieldError] = []
    error_count: int = 0


def one_error(error: str, field: str, reason: str) -> ErrorResponse:
    """A rejection with a single cause (the content type, the body's size), in the shape of
    the 422s: a client reads every 4xx's reasons from `errors`."""
    return ErrorResponse(
        error=error, errors=[FieldError(field=field, reason=reason)], error_count=1
    )


def field_path(loc: tuple[str | int, ...]) -> str:
    """pydantic's ('flights', 3, 'carrier') as flights[3].carrier; the body itself is <body>."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "<body>"


def describe(exc: ValidationError) -> ErrorResponse:
    """The first MAX_REPORTED_ERRORS problems, each with its field path and a short reason."""
    details = exc.errors(include_url=False, include_input=False, include_context=False)
    return ErrorResponse(
        error="invalid request",
        errors=[
            FieldError(field=field_path(d["loc"]), reason=d["msg"])
            for d in details[:MAX_REPORTED_ERRORS]
        ],
        error_count=len(details),
    )
