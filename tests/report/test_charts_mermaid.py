"""Mermaid charts: curves resampled at evenly spaced x, checked against values worked out by
hand from known piecewise-linear curves."""

from __future__ import annotations

import re

import pytest

from contrail.report.mermaid import (
    POINTS,
    Line,
    bar_chart,
    charts,
    confusion,
    evenly_spaced,
    line_chart,
    resample,
)

BASE = "b" * 40


def parse(block: str) -> dict:
    """The parts of an xychart-beta block, failing on anything unexpected."""
    lines = block.splitlines()
    assert lines[0] == "```mermaid" and lines[-1] == "```"
    assert lines[1] == "xychart-beta"
    parsed: dict = {"line": [], "bar": []}
    for line in lines[2:-1]:
        keyword, _, rest = line.strip().partition(" ")
        if keyword in ("line", "bar"):
            assert rest.startswith("[") and rest.endswith("]"), line
            parsed[keyword].append([float(v) for v in rest[1:-1].split(", ")])
        elif keyword == "x-axis" and "-->" in rest:
            low, high = re.fullmatch(r'"[^"]*" (\S+) --> (\S+)', rest).groups()
            parsed["x"] = (float(low), float(high))
        elif keyword == "x-axis":
            parsed["categories"] = re.findall(r'"([^"]*)"', rest)
        elif keyword == "y-axis":
            low, high = re.fullmatch(r'"[^"]*" (\S+) --> (\S+)', rest).groups()
            parsed["y"] = (float(low), float(high))
        else:
            assert keyword == "title", line
    return parsed


def test_evenly_spaced_x_includes_both_ends():
    assert evenly_spaced(0, 1, 5) == [0, 0.25, 0.5, 0.75, 1]
    assert evenly_spaced(0.1, 0.7, 4) == [0.1, 0.3, 0.5, 0.7]
    assert len(evenly_spaced(0, 1)) == POINTS == 21


def test_resampling_follows_the_straight_segments_of_a_known_curve():
    curve = [(0.0, 0.0), (0.5, 1.0), (1.0, 1.0)]

    assert resample(curve, [0, 0.25, 0.5, 0.75, 1]) == pytest.approx([0, 0.5, 1, 1, 1])
    # A precision-recall curve comes with recall falling: order does not matter.
    assert resample(curve[::-1], [0.1, 0.4]) == pytest.approx([0.2, 0.8])


def test_a_vertical_step_takes_its_top_and_the_ends_are_held_flat():
    roc = [(0.0, 0.0), (0.0, 0.6), (1.0, 1.0)]
    assert resample(roc, [0, 0.5, 1]) == pytest.approx([0.6, 0.8, 1.0])

    bins = [(0.2, 0.3), (0.6, 0.7)]
    assert resample(bins, [0, 0.2, 0.4, 1]) == pytest.approx([0.3, 0.3, 0.5, 0.7])


def test_a_line_chart_has_one_line_per_series_at_evenly_spaced_x():
    block = line_chart(
        "ROC",
        "False positive rate",
        "True positive rate",
        [Line("base", [(0, 0), (1, 1)]), Line("PR", [(0, 0), (0.2, 0.8), (1, 1)])],
    )

    chart = parse(block)
    assert chart["x"] == (0, 1) and chart["y"] == (0, 1)
    assert len(chart["line"]) == 2
    base, pr = chart["line"]
    # 21 evenly spaced x from 0 to 1, step 0.05: the diagonal is y = x, the PR curve rises
    # 0.8 over the first 0.2 then 0.2 over the remaining 0.8.
    assert base == pytest.approx([i / 20 for i in range(21)])
    assert pr[:5] == pytest.approx([0, 0.2, 0.4, 0.6, 0.8])
    assert pr[8] == pytest.approx(0.8 + 0.2 * (0.4 - 0.2) / 0.8)
    assert pr[-1] == 1


def test_a_bar_chart_keeps_the_given_order_and_spans_negative_values():
    chart = parse(bar_chart("Importance", "drop", [("dep_hour", 0.137), ("origin", -0.0016)]))

    assert chart["categories"] == ["dep_hour", "origin"]
    assert chart["bar"] == [[0.137, -0.0016]]
    low, high = chart["y"]
    assert low <= -0.0016 and high >= 0.137


def plot_rows(rev: str, name: str, rows: list[dict]) -> dict[str, list[dict]]:
    return {name: [{**r, "rev": rev} for r in rows]}


def test_charts_from_dvc_plot_data_draw_base_before_pr_and_sort_importance():
    roc = [{"fpr": x / 10, "tpr": min(1.0, x / 7)} for x in range(11)]
    plots = {
        "ROC": [{**r, "rev": BASE} for r in roc] + [{**r, "rev": "workspace"} for r in roc[::2]],
        **plot_rows("workspace", "Calibration", [
            {"prob_pred": 0.12, "prob_true": 0.1}, {"prob_pred": 0.52, "prob_true": 0.6},
        ]),
        **plot_rows("workspace", "Permutation importance", [
            {"feature": "carrier", "importance": 0.015},
            {"feature": "dep_hour", "importance": 0.137},
            {"feature": "origin", "importance": -0.0016},
        ]),
    }  # fmt: skip

    found = dict(charts(plots, BASE, "main"))

    roc_caption = next(c for c in found if "ROC" in c)
    assert "first line: `main`; second line: this PR" in roc_caption
    base, pr = parse(found[roc_caption])["line"]
    assert base[4] == pytest.approx(0.2 / 0.7, abs=1e-4)  # x = 0.2 on the base's own points
    assert pr[3] == pytest.approx(0.15 / 0.7, abs=1e-4)  # x = 0.15, between the PR's 0 and 0.2
    calibration = parse(found[next(c for c in found if "Calibration" in c)])
    assert calibration["x"] == (0.1, 0.55)
    pr_line, diagonal = calibration["line"]  # no base curve: the PR's, then the diagonal
    assert diagonal == pytest.approx(evenly_spaced(0.1, 0.55))
    assert pr_line[0] == 0.1 and pr_line[-1] == 0.6
    importance = parse(found[next(c for c in found if "importance" in c)])
    assert importance["categories"] == ["dep_hour", "carrier", "origin"]
    assert not any("Precision" in c for c in found)  # no data, no chart


def test_the_confusion_table_has_both_sides_counts():
    cells = [(0, 0, 14694), (0, 1, 4041), (1, 0, 3640), (1, 1, 4700)]
    rows = [
        {"actual": a, "predicted": p, "count": n + (r == "workspace"), "rev": r}
        for r in (BASE, "workspace")
        for a, p, n in cells
    ]

    table = confusion(rows, BASE, "main")

    assert table[0] == [
        "Actual", "`main`: predicted 0", "`main`: predicted 1", "PR: predicted 0",
        "PR: predicted 1",
    ]  # fmt: skip
    assert table[1:] == [
        ["0", "14,694", "4,041", "14,695", "4,042"],
        ["1", "3,640", "4,700", "3,641", "4,701"],
    ]
    assert confusion([r for r in rows if r["rev"] == "workspace"], BASE, "main")[0] == [
        "Actual", "PR: predicted 0", "PR: predicted 1",
    ]  # fmt: skip
    assert confusion([], BASE, "main") == []
