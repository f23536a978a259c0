"""The one feature definition shared by the pipeline and the service.

Every model input is computed from raw flight + weather columns by a function here, so the
service cannot compute a feature differently from training (no training/serving skew).
Only facts known before departure are used: the schedule, route, carrier, calendar and the
weather at the origin in the scheduled hour.

pandas is imported where a table is built, not with the module: `contrail check-params`, the
pipeline's first stage, reads the feature names here and would otherwise spend most of its
time importing pandas.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from contrail import months

if TYPE_CHECKING:
    import pandas as pd

# Known only after the flight left or landed: never a feature.
LEAKAGE_COLUMNS = frozenset({"dep_time", "dep_delay", "arr_time", "air_time", "arr_delay"})
LABEL = "delayed"
# Carried beside the features for the baseline and for slicing, never fed to the model.
META_COLUMNS = {"carrier": "meta_carrier", "hour": "meta_hour"}


def _decimal_hour(hhmm: pd.Series) -> pd.Series:
    return (hhmm // 100 + hhmm % 100 / 60).astype("float64")


def _day_of_week(raw: pd.DataFrame) -> pd.Series:
    import pandas as pd

    dates = pd.to_datetime(
        pd.DataFrame({"year": raw["year"], "month": raw["month"], "day": raw["day"]})
    )
    return dates.dt.dayofweek.astype("float64")


@dataclass(frozen=True)
class Feature:
    kind: Literal["categorical", "numeric"]
    inputs: tuple[str, ...]
    compute: Callable[[pd.DataFrame], pd.Series]


def _column(name: str, kind: Literal["categorical", "numeric"]) -> Feature:
    if kind == "numeric":
        return Feature(kind, (name,), lambda raw: raw[name].astype("float64"))
    return Feature(kind, (name,), lambda raw: raw[name].astype("string"))


FEATURES: dict[str, Feature] = {
    "carrier": _column("carrier", "categorical"),
    "origin": _column("origin", "categorical"),
    "dest": _column("dest", "categorical"),
    "dep_hour": Feature(
        "numeric", ("sched_dep_time",), lambda raw: _decimal_hour(raw["sched_dep_time"])
    ),
    "arr_hour": Feature(
        "numeric", ("sched_arr_time",), lambda raw: _decimal_hour(raw["sched_arr_time"])
    ),
    "day_of_week": Feature("numeric", ("year", "month", "day"), _day_of_week),
    **{
        name: _column(name, "numeric")
        for name in (
            "distance",
            "temp",
            "dewp",
            "humid",
            "wind_dir",
            "wind_speed",
            "wind_gust",
            "precip",
            "pressure",
            "visib",
        )
    },
}


def required_inputs(feature_names: list[str]) -> list[str]:
    """Raw columns a caller must supply to compute these features, in a stable order."""
    return list(dict.fromkeys(col for name in feature_names for col in FEATURES[name].inputs))


def build_features(raw: pd.DataFrame, feature_names: list[str]) -> pd.DataFrame:
    """Model inputs for each raw row, in the order given (the model's column order)."""
    import pandas as pd

    return pd.DataFrame(
        {name: FEATURES[name].compute(raw) for name in feature_names}, index=raw.index
    )


def delay_label(raw: pd.DataFrame, delay_minutes: float) -> pd.Series:
    """1 when the flight arrived more than `delay_minutes` late, <NA> when it never arrived.

    Cancelled and diverted flights have no arrival delay; `arr_delay > 15` would silently
    call them on time, so they get no label and the caller decides what to do with them.
    """
    arr_delay = raw["arr_delay"]
    return (arr_delay > delay_minutes).astype("Int8").mask(arr_delay.isna())


def feature_table(
    raw: pd.DataFrame, feature_names: list[str], delay_minutes: float
) -> pd.DataFrame:
    """Model inputs, the label (<NA> without arrival) and the meta columns, per raw row."""
    table = build_features(raw, feature_names)
    table[LABEL] = delay_label(raw, delay_minutes)
    for column, meta in META_COLUMNS.items():
        table[meta] = raw[column]
    return table


def split_train_test(
    window: pd.DataFrame, table: pd.DataFrame, test_month: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Labelled rows of the window's feature table: rows of `test_month` are the test set."""
    is_test = months.of(window) == months.index(test_month)
    labelled = table[LABEL].notna()
    return (
        table[~is_test & labelled].reset_index(drop=True),
        table[is_test & labelled].reset_index(drop=True),
    )
