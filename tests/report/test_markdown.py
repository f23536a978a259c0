"""The comment's rendering: size limit on any input, table-safe cells, exact numbers."""

from __future__ import annotations

import pytest

from contrail.metrics import BRIER, HEADLINE_METRICS, LIFT, ROC_AUC, metric_keys
from contrail.report.compare import Change, DriftRow, flatten
from contrail.report.gate import decide
from contrail.report.markdown import (
    GITHUB_COMMENT_LIMIT,
    cell,
    metric_label,
    metric_order,
    number,
    render,
)


@pytest.fixture
def comparison(make_evaluation, make_comparison):
    """main at ROC AUC 0.743178, the PR at 0.751, with a params change, drift and facts."""

    def build(**overrides):
        fields = {
            "params": [Change("train.learning_rate", 0.1, 0.05)],
            "drift": [DriftRow("temp", "wasserstein", 0.1, 2.5, True, 0.3, True)],
            "drift_dataset": [Change("dataset_drift", True, False)],
            "facts": [Change("Training rows", 133603, 140000)],
            "validation": Change("validation", {}, {}),
        }
        return make_comparison(
            make_evaluation(roc_auc=0.743178, brier=0.179961, lift=0.060057, rows=27075),
            make_evaluation(roc_auc=0.751, brier=0.18, lift=0.07, rows=27100),
            **{**fields, **overrides},
        )

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

    text = render(huge, decide(huge, gate_params), {})

    assert len(text) < GITHUB_COMMENT_LIMIT
    assert "more row(s) not shown (comment size limit)" in text
    # The verdict and the headline metric survive the cut.
    assert "## ✅ Model report: promote" in text
    assert "| ROC AUC | 0.743178 | 0.751 | +0.007822 |" in text


def test_when_even_short_tables_do_not_fit_the_text_is_cut_with_a_note(comparison, gate_params):
    text = render(comparison(), decide(comparison(), gate_params), {}, max_chars=600)

    assert len(text) <= 600
    assert text.rstrip().endswith("in the workflow artifacts.")


def test_images_are_linked_relative_to_the_comment_and_the_run_is_linked_absolutely(
    comparison, gate_params
):
    c = comparison()

    text = render(
        c,
        decide(c, gate_params),
        {"ROC curve": "pr_report/roc.svg"},
        "https://github.com/o/r/actions/runs/1",
    )

    assert "![ROC curve](pr_report/roc.svg)" in text
    assert "[this workflow run](https://github.com/o/r/actions/runs/1)" in text


def test_every_key_of_the_metrics_file_has_one_row_named_by_its_definition(comparison, gate_params):
    c = comparison()

    text = render(c, decide(c, gate_params), {})

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


def test_the_table_shows_each_side_of_the_files_and_their_difference(comparison, gate_params):
    c = comparison()
    base, pr = flatten(c.base_evaluation.to_json()), flatten(c.pr_evaluation.to_json())

    text = render(c, decide(c, gate_params), {})

    for key in metric_keys():
        row = next(r for r in text.splitlines() if r.startswith(f"| {metric_label(key)} |"))
        cells = [x.strip() for x in row.strip("|").split("|")]
        assert float(cells[1]) == base[key], key
        assert float(cells[2]) == pr[key], key
        assert float(cells[3]) == pytest.approx(pr[key] - base[key], abs=1e-9), key


def test_a_base_in_another_metrics_format_is_named_not_shown_as_a_first_model(
    make_evaluation, make_comparison, gate_params
):
    error = "reports/evaluation/metrics.json at `main`: section 'model' should have ..."
    c = make_comparison(None, make_evaluation(), base_metrics_error=error)

    text = render(c, decide(c, gate_params), {})

    assert f"**The metrics files differ in format:** {error}" in text
    assert "First model" not in text
    assert "## ❌ Model report: blocked" in text
