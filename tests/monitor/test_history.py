"""The monitor's history CSV and the history branch's README: rows survive the file, a month
checked again replaces its row, the charts have one x label per month and valid Mermaid data,
and a damaged file is refused by name."""

from __future__ import annotations

import re
from dataclasses import fields, replace

import pytest

from contrail.monitor import history
from contrail.monitor.history import Row

# Mermaid xychart-beta's lexer: the only tokens a `line [...]` may hold (xychart.jison).
MERMAID_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d+)?|\.\d+)")
SOURCE = "reports/monitor-history.csv"


def row(month: str, version: str = "a1b2c3d4e5f60718", **changes) -> Row:
    base = Row(
        month=month, model_version=version, rows=28_330, labelled_rows=27_564, roc_auc=0.631287,
        roc_auc_low=0.624358, roc_auc_high=0.637909, test_roc_auc=0.692481, brier=0.202181,
        test_brier=0.160023, delay_rate=0.27935, drifted_share=0.466667,
        prediction_drift=0.310629, retrain=True,
        reason="AUC 0.631 [0.624, 0.638] vs 0.692 on the test month (tolerance 0.02)",
    )  # fmt: skip
    return replace(base, **changes)


def unmeasured(month: str, version: str = "a1b2c3d4e5f60718", **changes) -> Row:
    """A month without outcomes yet: no AUC, Brier or delay rate; a reason with quotes."""
    nothing = dict.fromkeys(("roc_auc", "roc_auc_low", "roc_auc_high", "brier", "delay_rate"))
    reason = 'only 0 flights with an outcome (minimum 1,000): "performance" not judged'
    return row(month, version, labelled_rows=0, retrain=False, reason=reason, **nothing, **changes)


def charts(text: str) -> list[dict]:
    """Each Mermaid block of `text`: its x labels and its lines' values as written."""
    blocks = re.findall(r"```mermaid\n(.*?)\n```", text, flags=re.DOTALL)
    parsed = []
    for block in blocks:
        lines = [line.strip() for line in block.splitlines()]
        assert lines[0] == "xychart-beta"
        (x_axis,) = [line for line in lines if line.startswith("x-axis ")]
        parsed.append(
            {
                "labels": re.findall(r'"([^"]*)"', x_axis),
                "lines": [
                    line.removeprefix("line [").removesuffix("]").split(", ")
                    for line in lines
                    if line.startswith("line [")
                ],
            }
        )
    return parsed


def test_rows_survive_render_and_parse():
    rows = [
        row("2013-04"),
        # Nothing measured yet: empty cells come back as None; text with CSV's special
        # characters comes back whole.
        unmeasured("2013-05", "ffffeeee00001111", drifted_share=0.0, prediction_drift=None),
        row("2013-06", rows=1, test_roc_auc=1.0, drifted_share=1.0, reason="a; b — c\nd"),
    ]
    text = history.render(rows)
    assert history.parse(text, SOURCE) == rows
    assert text.splitlines()[0] == ",".join(f.name for f in fields(Row))


def test_an_empty_or_header_only_file_has_no_rows():
    assert history.parse("", SOURCE) == []
    assert history.parse(history.render([]), SOURCE) == []


def test_upsert_replaces_the_same_month_and_model_and_keeps_month_order():
    rows = [row("2013-04"), row("2013-07")]
    rows = history.upsert(rows, row("2013-06"))
    rows = history.upsert(rows, row("2013-05"))
    assert [r.month for r in rows] == ["2013-04", "2013-05", "2013-06", "2013-07"]
    again = row("2013-06", roc_auc=0.7, retrain=False, reason="no rule fired")
    replaced = history.upsert(rows, again)
    assert [r.month for r in replaced] == ["2013-04", "2013-05", "2013-06", "2013-07"]
    assert replaced[2] == again
    assert [r for r in replaced if r.month != "2013-06"] == [
        r for r in rows if r.month != "2013-06"
    ]


def test_upsert_keeps_another_models_row_of_the_same_month():
    rows = history.upsert([row("2013-06", "a1b2c3d4e5f60718")], row("2013-06", "0000aaaa1111bbbb"))
    assert sorted(r.model_version for r in rows) == ["0000aaaa1111bbbb", "a1b2c3d4e5f60718"]


def test_readme_draws_one_x_label_per_month_with_one_value_per_label():
    rows = [row("2013-04"), row("2013-05", roc_auc=0.7012), row("2013-06", drifted_share=0.2)]
    # The same month checked by a second model adds no label.
    rows = history.upsert(rows, row("2013-05", "0000aaaa1111bbbb"))
    text = history.readme(rows)
    drawn = charts(text)
    assert len(drawn) == 2
    for chart in drawn:
        assert chart["labels"] == ["2013-04", "2013-05", "2013-06"]
        assert all(len(values) == 3 for values in chart["lines"])
    auc, drift = drawn
    assert len(auc["lines"]) == 2  # production AUC and the model's test-month AUC
    assert [float(v) for v in auc["lines"][1]] == [0.6925] * 3
    assert [float(v) for v in drift["lines"][0]] == [0.4667, 0.4667, 0.2]
    # One table row per month too.
    table = [line for line in text.splitlines() if line.startswith("| 2013-")]
    assert [line.split(" | ")[0] for line in table] == ["| 2013-04", "| 2013-05", "| 2013-06"]


def test_readme_shows_the_month_as_checked_last_when_a_new_model_checks_it_again():
    """A retrained model checks its own month again (clock "latest"): the README's "latest row
    per month" is the newer check, whatever the two models' hashes sort as."""
    first = row("2013-05", "ffff000011112222", roc_auc=0.61)
    newer = row("2013-05", "0000aaaa1111bbbb", roc_auc=0.72, retrain=False)
    rows = history.upsert(history.upsert([], first), newer)
    auc = charts(history.readme(rows))[0]
    assert [float(v) for v in auc["lines"][0]] == [0.72]


def test_readme_charts_stay_valid_mermaid_when_a_month_has_no_auc():
    """A month without outcomes yet (prediction logs before the arrivals) has no AUC; the chart
    must still parse: Mermaid's line data are numbers only."""
    text = history.readme([row("2013-04"), unmeasured("2013-05"), row("2013-06")])
    for chart in charts(text):
        for values in chart["lines"]:
            assert all(MERMAID_NUMBER.fullmatch(v) for v in values), values


def test_readme_without_rows_has_no_chart():
    text = history.readme([])
    assert text.startswith("# Monitor history\n")
    assert "```mermaid" not in text


@pytest.mark.parametrize(
    "header",
    [
        # A column missing (an older file), an extra one, one renamed.
        ",".join(f.name for f in fields(Row) if f.name != "prediction_drift"),
        ",".join([*(f.name for f in fields(Row)), "note"]),
        ",".join(f.name for f in fields(Row)).replace("roc_auc_low", "auc_low"),
    ],
)
def test_a_csv_with_wrong_columns_is_refused_by_name(header):
    body = history.render([row("2013-04")]).splitlines()[1]
    with pytest.raises(ValueError, match=re.escape(SOURCE)):
        history.parse(f"{header}\n{body}\n", SOURCE)


def test_a_damaged_cell_is_refused_naming_the_file():
    """A hand-edited history branch: the error must say which file to fix."""
    text = history.render([row("2013-04")]).replace("0.631287", "n/a")
    with pytest.raises(ValueError, match=re.escape(SOURCE)):
        history.parse(text, SOURCE)
