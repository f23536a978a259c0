"""The comment's rendering: verdict and headline metrics first, the rest collapsed, charts as
Mermaid text, no local link, size limit on any input, table-safe cells."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from contrail.gate.rules import promotion_verdict
from contrail.metrics import BRIER, HEADLINE_METRICS, LIFT, ROC_AUC, metric_keys
from contrail.report.compare import Change, DriftRow, Interval, SameRows, flatten
from contrail.report.mermaid import evenly_spaced
from contrail.report.pr_comment import (
    GITHUB_COMMENT_LIMIT,
    THRESHOLD_KEYS,
    cell,
    metric_label,
    metric_order,
    number,
    render,
)

SHA = "a" * 40
# Bootstrap intervals of the two judged deltas.
INTERVALS = {
    "roc_auc": Interval(0.007822, 0.006812, 0.008931),
    "brier": Interval(0.000039, -0.000312, 0.000405),
}
PLOTS = {
    "ROC": [
        {"fpr": x / 10, "tpr": min(1.0, x / t), "rev": rev}
        for rev, t in ((SHA, 8), ("workspace", 7))
        for x in range(11)
    ],
    "Precision-Recall": [
        {"recall": 1 - x / 10, "precision": 0.3 + x / 20, "rev": rev}
        for rev in (SHA, "workspace")
        for x in range(11)
    ],
    "Calibration": [
        {"prob_pred": 0.1 * i + 0.05, "prob_true": 0.1 * i + 0.07, "rev": rev}
        for rev in (SHA, "workspace")
        for i in range(8)
    ],
    "Permutation importance": [
        {"feature": f, "importance": v, "rev": "workspace"}
        for f, v in (("carrier", 0.015), ("origin", -0.0016), ("dep_hour", 0.137))
    ],
    "Confusion matrix": [
        {"actual": a, "predicted": p, "count": n, "rev": rev}
        for rev in (SHA, "workspace")
        for a, p, n in ((0, 0, 14694), (0, 1, 4041), (1, 0, 3640), (1, 1, 4700))
    ],
}


BASE_FILE = {"roc_auc": 0.743178, "brier": 0.179961, "lift": 0.060057, "rows": 27075}
PR_FILE = {"roc_auc": 0.751, "brier": 0.18, "lift": 0.07, "rows": 27100}


@pytest.fixture
def comparison(make_evaluation, make_comparison, make_paired):
    """main at ROC AUC 0.743178, the PR at 0.751, with a params change, drift and facts; both
    models scored on the PR's test rows as their files say, unless `same_rows` is given, with
    the judged deltas' `intervals`."""

    def build(intervals=None, **overrides):
        fields = {
            "params": [Change("train.learning_rate", 0.1, 0.05)],
            "drift": [DriftRow("temp", "wasserstein", 0.1, 2.5, True, 0.3, True)],
            "drift_dataset": [Change("dataset_drift", True, False)],
            "facts": [Change("Training rows", 133603, 140000)],
            "validation": Change("validation", {}, {}),
        }
        base, pr = make_evaluation(**BASE_FILE), make_evaluation(**PR_FILE)
        if intervals:
            fields["same_rows"] = make_paired(base, pr, **intervals)
        return make_comparison(base, pr, **{**fields, **overrides})

    return build


def test_numbers_are_written_as_the_metrics_files_hold_them():
    assert [number(v) for v in (0.743178, 0.5, 27075, 2.0, -0.0000001, True, None)] == [
        "0.743178", "0.5", "27075", "2", "0", "yes", "n/a",
    ]  # fmt: skip


def test_cells_cannot_break_the_table():
    text = cell("a|b\nc" + "x" * 500)

    assert "\n" not in text
    assert "\\|" in text
    assert len(text) <= 120


def headline_rows(text: str) -> dict[str, list[str]]:
    """The first table of the comment, by metric label."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| Metric |"))
    rows = {}
    for line in lines[start + 2 :]:
        if not line.startswith("| "):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows


def test_the_verdict_comes_first_then_the_five_headline_metrics_rounded(comparison, gate_params):
    c = comparison(INTERVALS)

    text = render(c, promotion_verdict(c, gate_params), PLOTS)

    lines = text.splitlines()
    assert lines[0] == "## ✅ Model report: promote"
    assert lines[2].startswith("**Verdict:** promote: ")
    assert lines[4] == "| Metric | `main` | PR | Δ | 95% interval of Δ |"
    rows = headline_rows(text)
    assert list(rows) == [metric_label(m.key) for m in HEADLINE_METRICS]
    base, pr = flatten(c.base_evaluation.to_json()), flatten(c.pr_evaluation.to_json())
    for metric in HEADLINE_METRICS:
        base_cell, pr_cell, delta, _ = rows[metric_label(metric.key)]
        assert (base_cell, pr_cell) == (f"{base[metric.key]:.4f}", f"{pr[metric.key]:.4f}")
        assert delta == f"{pr[metric.key] - base[metric.key]:+.4f}", metric.key
    assert rows["ROC AUC"][3] == "[+0.0068, +0.0089] (paired, 27,100 rows)"
    assert rows[metric_label(BRIER.key)][3] == "[-0.0003, +0.0004] (paired, 27,100 rows)"
    assert rows["PR AUC"][3] == "—"
    assert "_Both models scored on the same 27,100 test rows (this PR's test month)" in text
    assert "`main`'s model: from the DVC cache or remote" in text
    assert "Interval: **paired bootstrap**" in text
    # Nothing but the verdict and the headline precedes the collapsed sections.
    assert text.index("| ROC AUC |") < text.index("<details>")


def test_a_moved_window_shows_both_models_on_the_prs_test_rows_and_the_files_collapsed(
    comparison, make_evaluation, make_paired, gate_params
):
    window = [
        Change("Data window (train + test month)", "2013-01 .. 2013-02", "2013-02 .. 2013-03")
    ]
    pr = make_evaluation(**PR_FILE)
    # `main`'s model on the PR's (later, harder) test month: not its own file's numbers.
    on_prs_month = make_evaluation(roc_auc=0.721, brier=0.1912)
    same_rows = replace(
        make_paired(on_prs_month, pr, roc_auc=Interval(0.03, 0.02, 0.04)),
        source="rebuilt from 0123abcd, identical to its dvc.lock (md5 0f0f)",
    )
    c = comparison(same_rows=same_rows, facts=window)

    text = render(c, promotion_verdict(c, gate_params), {})

    rows = headline_rows(text)
    assert rows["ROC AUC"] == [
        "0.7210",
        "0.7510",
        "+0.0300",
        "[+0.0200, +0.0400] (paired, 27,100 rows)",
    ]
    assert rows[metric_label(BRIER.key)] == ["0.1912", "0.1800", "-0.0112", "no interval"]
    assert "`main`'s model: rebuilt from 0123abcd, identical to its dvc.lock" in text
    assert "The data window changed: the table above scores `main`'s model on this PR's" in text
    # The files' own numbers (each on its own month) are only in the collapsed sections.
    assert f"| {metric_label('lift.roc_auc')} | 0.060057 | 0.07 |" in text


@pytest.mark.parametrize("window_changed", [False, True])
@pytest.mark.parametrize("status", ["unavailable", "not comparable"])
def test_without_both_models_on_the_same_rows_each_file_is_shown_as_not_comparable(
    comparison, gate_params, status, window_changed
):
    why = "it uses feature(s) this PR no longer builds: temp"
    months = (
        "2013-01 .. 2013-02",
        "2013-01 .. 2013-03" if window_changed else "2013-01 .. 2013-02",
    )
    c = comparison(
        same_rows=SameRows(status, reason=why),
        facts=[Change("Data window (train + test month)", *months)],
    )

    text = render(c, promotion_verdict(c, gate_params), {})

    assert "| Metric | `main` (its own test month) | PR (its own test month) |" in text
    assert headline_rows(text)["ROC AUC"] == ["0.7432", "0.7510"]
    assert "| Δ |" not in text.split("<details>")[0]
    note = (
        "**not comparable**, so no Δ. The gate judges only both models scored on the same "
        "rows; the verdict says why `main`'s model could not be._"
    )
    assert note in text
    assert text.count(why) == 1  # in the verdict
    assert (", and the months differ:" in text) == window_changed
    if status == "unavailable":
        assert text.startswith("## ⚠️ Model report: the gate cannot decide\n")
        assert f"**Verdict:** cannot decide: `main`'s model cannot be obtained: {why}." in text
        assert "**Nothing was judged.**" in text
        assert "adds the `allow-regression` label" not in text
    else:
        assert text.startswith("## ❌ Model report: blocked\n")
        assert "adds the `allow-regression` label" in text


def test_everything_else_is_in_collapsed_sections_that_render_tables(comparison, gate_params):
    c = comparison(INTERVALS)

    text = render(c, promotion_verdict(c, gate_params), PLOTS)

    summaries = re.findall(r"<details><summary>(.*?)</summary>\n\n", text)
    assert text.count("<details>") == text.count("</details>") == len(summaries)
    for expected in ("Charts:", "Threshold", "Other metrics", "Data drift", "Run facts"):
        assert any(s.startswith(expected) for s in summaries), expected
    first = text.index("<details>")
    for key in (*THRESHOLD_KEYS, LIFT.key, "baseline.roc_auc", "test.rows"):
        assert text.index(f"| {metric_label(key)} |") > first, key
    assert "| 0 | 14,694 | 4,041 | 14,694 | 4,041 |" in text  # confusion matrix, both sides
    # A short parameters diff stays visible.
    assert text.index("| train.learning_rate | 0.1 | 0.05 |") < first
    # Wall-clock figures are never compared.
    assert not re.search(r"wall|seconds|duration|runtime", text, re.IGNORECASE)


def test_charts_are_mermaid_line_and_bar_charts_at_evenly_spaced_x(comparison, gate_params):
    c = comparison()

    text = render(c, promotion_verdict(c, gate_params), PLOTS)

    blocks = re.findall(r"```mermaid\n(.*?)\n```", text, re.DOTALL)
    assert len(blocks) == 4
    series = {"ROC curve": 2, "Precision-recall": 2, "Calibration": 3}
    for block in blocks:
        lines = block.splitlines()
        assert lines[0] == "xychart-beta"
        title = re.fullmatch(r'    title "(.*)"', lines[1]).group(1)
        if title == "Permutation importance":
            assert lines[2] == '    x-axis ["dep_hour", "carrier", "origin"]'
            assert lines[4] == "    bar [0.137, 0.015, -0.0016]"
            continue
        low, high = map(
            float, re.fullmatch(r'    x-axis "[^"]+" (\S+) --> (\S+)', lines[2]).groups()
        )
        assert lines[3].startswith("    y-axis ")
        plotted = [line for line in lines[4:] if line.startswith("    line [")]
        assert len(plotted) == len(lines) - 4 == series[title], title
        for line in plotted:
            # Mermaid spreads the values evenly over the x range: one per evenly spaced x.
            assert len(line.split(",")) == len(evenly_spaced(low, high)) == 21
    assert "first line: `main`; second line: this PR" in text


def test_no_local_file_is_linked_unless_asked(comparison, gate_params):
    c = comparison()
    run = "https://github.com/o/r/actions/runs/1"

    text = render(c, promotion_verdict(c, gate_params), PLOTS, run)
    linked = render(
        c, promotion_verdict(c, gate_params), PLOTS, run, plots_link="pr_report/plots/index.html"
    )

    assert "![" not in text
    assert all(link.startswith("https://") for link in re.findall(r"\]\(([^)]+)\)", text))
    assert "[this workflow run](https://github.com/o/r/actions/runs/1)" in text
    assert "[Interactive charts](pr_report/plots/index.html)" in linked


def test_every_key_of_the_metrics_file_has_one_row_named_by_its_definition(comparison, gate_params):
    c = comparison()

    text = render(c, promotion_verdict(c, gate_params), {})

    rows = [line for line in text.splitlines() if line.startswith("| ")]
    keys = metric_keys()
    assert sorted(metric_order()) == sorted(keys)
    for key in keys:
        matching = [r for r in rows if r.startswith(f"| {metric_label(key)} |")]
        assert len(matching) == 1, key
    # The named metrics lead, in the definition's order, under their labels.
    named = [*HEADLINE_METRICS, LIFT]
    assert metric_order()[: len(named)] == [m.key for m in named]
    assert metric_label(ROC_AUC.key) == ROC_AUC.label
    assert metric_label(BRIER.key) == f"{BRIER.label} (lower is better)"
    assert metric_label("baseline.roc_auc") == f"Naive baseline: {ROC_AUC.label}"
    assert metric_label("test.rows") == "test.rows"


def test_the_collapsed_rows_show_each_side_of_the_files_exactly(comparison, gate_params):
    c = comparison()
    base, pr = flatten(c.base_evaluation.to_json()), flatten(c.pr_evaluation.to_json())

    text = render(c, promotion_verdict(c, gate_params), {})

    headline = {m.key for m in HEADLINE_METRICS}
    for key in (k for k in metric_keys() if k not in headline):
        row = next(r for r in text.splitlines() if r.startswith(f"| {metric_label(key)} |"))
        cells = [x.strip() for x in row.strip("|").split("|")]
        assert float(cells[1]) == base[key], key
        assert float(cells[2]) == pr[key], key
        assert float(cells[3]) == pytest.approx(pr[key] - base[key], abs=1e-9), key


def test_a_huge_drift_table_and_params_diff_stay_under_the_limit_with_a_note(
    comparison, gate_params
):
    huge = comparison(
        params=[Change(f"features.{'very_long_name_' * 5}{i}", "x" * 300, i) for i in range(5000)],
        drift=[
            DriftRow(f"feature_{i}_{'y' * 80}", "wasserstein", 0.1, 0.5, True, 0.01, False)
            for i in range(5000)
        ],
        validation=Change(
            "validation",
            {},
            {"window": {"rows": 10, "problems": [], "file": "w"}},
        ),
    )

    text = render(huge, promotion_verdict(huge, gate_params), PLOTS)

    assert len(text) < GITHUB_COMMENT_LIMIT
    assert "more row(s) not shown (comment size limit)" in text
    # The verdict and the headline metrics survive the cut; a long params diff is collapsed.
    assert "## ✅ Model report: promote" in text
    assert "| ROC AUC | 0.7432 | 0.7510 | +0.0078 |" in text
    assert "<details><summary>Parameters changed (5000)</summary>" in text
    assert text.count("<details>") == text.count("</details>")


def test_when_even_short_tables_do_not_fit_whole_sections_are_left_out_with_a_note(
    comparison, gate_params
):
    c = comparison()
    text = render(c, promotion_verdict(c, gate_params), PLOTS, max_chars=2_000)

    assert len(text) <= 2_000
    assert text.rstrip().endswith("in the workflow artifacts.")
    assert text.startswith("## ✅ Model report: promote")
    assert text.count("<details>") == text.count("</details>")
    assert text.count("```") % 2 == 0

    tiny = render(c, promotion_verdict(c, gate_params), {}, max_chars=600)
    assert len(tiny) <= 600
    assert tiny.rstrip().endswith("in the workflow artifacts.")


def test_a_base_in_another_metrics_format_is_named_not_shown_as_a_first_model(
    make_evaluation, make_comparison, make_paired, gate_params
):
    error = "reports/evaluation/metrics.json at `main`: section 'model' should have ..."
    pr = make_evaluation()
    # Its model still scores the PR's rows: the gate judges that, the files only display.
    c = make_comparison(
        None, pr, base_metrics_error=error, same_rows=make_paired(make_evaluation(), pr)
    )

    text = render(c, promotion_verdict(c, gate_params), {})

    assert f"**The metrics files differ in format:** {error}" in text
    assert "First model" not in text
    assert "## ✅ Model report: promote" in text
    assert headline_rows(text)["ROC AUC"][:3] == ["0.7500", "0.7500", "+0.0000"]
    assert f"| {metric_label('lift.roc_auc')} | n/a | 0.05 | n/a |" in text


def test_a_first_model_shows_its_own_numbers_only(make_evaluation, make_comparison, gate_params):
    c = make_comparison(None, make_evaluation(lift=0.01))

    text = render(c, promotion_verdict(c, gate_params), {})

    assert headline_rows(text)["ROC AUC"] == ["n/a", "0.7500"]
    assert "First model: `main` (`aaaaaaaa`) has no model yet" in text
    assert "not comparable" not in text
