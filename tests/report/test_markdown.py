"""The comment's rendering: size limit on any input, table-safe cells, exact numbers."""

from __future__ import annotations

from contrail.params import GateParams
from contrail.report.compare import Change, Comparison, DriftRow
from contrail.report.gate import decide
from contrail.report.markdown import GITHUB_COMMENT_LIMIT, cell, number, render

METRICS = [
    Change("model.roc_auc", 0.743178, 0.751),
    Change("model.brier", 0.179961, 0.18),
    Change("lift.roc_auc", 0.060057, 0.07),
    Change("test.rows", 27075, 27100),
]


def comparison(**overrides) -> Comparison:
    fields = {
        "base_label": "main",
        "base_sha": "a" * 40,
        "metrics": METRICS,
        "params": [Change("train.learning_rate", 0.1, 0.05)],
        "drift": [DriftRow("temp", "wasserstein", 0.1, 2.5, True, 0.3, True)],
        "drift_dataset": [Change("dataset_drift", True, False)],
        "facts": [Change("Training rows", 133603, 140000)],
        "validation": Change("validation", {}, {}),
    }
    return Comparison(**{**fields, **overrides})


def test_numbers_are_written_as_the_metrics_files_hold_them():
    assert [number(v) for v in (0.743178, 0.5, 27075, 2.0, -0.0000001, True, None)] == [
        "0.743178", "0.5", "27075", "2", "0", "yes", "n/a",
    ]  # fmt: skip


def test_cells_cannot_break_the_table():
    text = cell("a|b\nc" + "x" * 500)

    assert "\n" not in text
    assert "\\|" in text
    assert len(text) <= 120


def test_a_huge_drift_table_and_params_diff_stay_under_the_limit_with_a_note():
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

    text = render(huge, decide(huge, GateParams()), {})

    assert len(text) < GITHUB_COMMENT_LIMIT
    assert "more row(s) not shown (comment size limit)" in text
    # The verdict and the headline metric survive the cut.
    assert "## ✅ Model report: promote" in text
    assert "| ROC AUC (headline) | 0.743178 | 0.751 | +0.007822 |" in text


def test_when_even_short_tables_do_not_fit_the_text_is_cut_with_a_note():
    text = render(comparison(), decide(comparison(), GateParams()), {}, max_chars=600)

    assert len(text) <= 600
    assert text.rstrip().endswith("in the workflow artifacts.")


def test_images_are_linked_relative_to_the_comment_and_the_run_is_linked_absolutely():
    c = comparison()

    text = render(
        c,
        decide(c, GateParams()),
        {"ROC curve": "pr_report/roc.svg"},
        "https://github.com/o/r/actions/runs/1",
    )

    assert "![ROC curve](pr_report/roc.svg)" in text
    assert "[this workflow run](https://github.com/o/r/actions/runs/1)" in text
