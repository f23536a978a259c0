"""The pull-request comment as markdown, always under GitHub's size limit.

GitHub rejects a comment over 65,536 characters. CML then appends its watermark and replaces
each local image path with a longer asset URL, so the report keeps a margin below that.
Long tables are cut first (with a note saying how many rows are hidden); only if that is not
enough is the text itself cut.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from contrail.metrics import HEADLINE_METRICS, LIFT, ROC_AUC, Metric, metric_keys
from contrail.report.compare import PAIRED_METRICS, Comparison, Interval
from contrail.report.gate import Verdict

GITHUB_COMMENT_LIMIT = 65_536
MAX_CHARS = GITHUB_COMMENT_LIMIT - 4_000
MAX_CELL = 120
MISSING = "n/a"
# Row limits tried in turn until the comment fits; None shows every row.
ROW_LIMITS = (None, 200, 100, 50, 25, 10, 5)
CUT_NOTE = "\n\n> **Report cut here** to stay under GitHub's comment size limit; the full report is in the workflow artifacts.\n"

# Metrics with a display name (contrail.metrics), first and in this order; every other key of
# the metrics file follows under its DVC name, in file order.
NAMED_METRICS: dict[str, Metric] = {m.key: m for m in (*HEADLINE_METRICS, LIFT)}
BASELINE_PREFIX = "baseline."


def metric_label(key: str) -> str:
    """A metrics.json key as the comment's table names it."""
    if key in NAMED_METRICS:
        metric = NAMED_METRICS[key]
        return metric.label + ("" if metric.higher_is_better else " (lower is better)")
    # The naive baseline is scored like the model: `baseline.brier` mirrors `model.brier`.
    if key.startswith(BASELINE_PREFIX):
        mirrored = NAMED_METRICS.get(key.replace(BASELINE_PREFIX, "model.", 1))
        if mirrored is not None:
            return f"Naive baseline: {mirrored.label}"
    return key


def metric_order() -> list[str]:
    """Keys in display order: named metrics, then the rest of the file's keys."""
    return [*NAMED_METRICS, *(k for k in metric_keys() if k not in NAMED_METRICS)]


def number(value: Any) -> str:
    """Exact enough to match the metrics files (they hold 6 decimals), no float noise."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = f"{value:.6f}".rstrip("0").rstrip(".")
        return "0" if text in ("-0", "") else text
    return str(value)


def signed(value: float | None) -> str:
    if value is None:
        return MISSING
    if isinstance(value, int):
        return f"{value:+d}"
    text = number(value)
    return text if text.startswith("-") else f"+{text}"


def cell(value: Any) -> str:
    """Table-safe text: pipes escaped, newlines flattened, long values shortened."""
    text = value if isinstance(value, str) else number(value)
    text = text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("`", "'")
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], limit: int | None) -> list[str]:
    shown = rows if limit is None else rows[:limit]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(cell(v) for v in row) + " |" for row in shown),
    ]
    if len(shown) < len(rows):
        lines += ["", f"_{len(rows) - len(shown)} more row(s) not shown (comment size limit)._"]
    return lines


def interval_text(interval: Interval | None, rows: int) -> str:
    if interval is None:
        return MISSING
    if interval.low is None or interval.high is None:
        where = "same test rows" if interval.paired else "metrics files"
        return f"{signed(interval.delta)} ({where})"
    where = f"paired, {rows:,} rows" if interval.paired else "independent test sets"
    return (
        f"{signed(round(interval.delta, 6))} [{signed(round(interval.low, 6))}, "
        f"{signed(round(interval.high, 6))}] ({where})"
    )


def _headline(comparison: Comparison, verdict: Verdict) -> list[str]:
    if verdict.overridden:
        title = f"⚠️ Model report: promote, regression accepted with the `{verdict.override_label}` label"
    elif verdict.promote:
        title = "✅ Model report: promote"
    else:
        title = "❌ Model report: blocked"
    base = f"`{comparison.base_label}` (`{comparison.base_sha[:8]}`)"
    lines = [f"## {title}", "", f"**Verdict:** {verdict.line()}.", ""]
    headline = comparison.metric(ROC_AUC)
    before = (
        f"{number(headline.base)} on `{comparison.base_label}` → "
        if headline.base is not None
        else ""
    )
    lines += [f"**{ROC_AUC.label}:** {before}{number(headline.pr)} on this PR.", ""]
    lines += [
        f"This comment compares the model trained by `dvc repro` on this pull request with the "
        f"one on {base}, and is updated on every push. The promotion rule and its bounds are "
        f"the `gate:` section of `params.yaml`.",
    ]
    if verdict.blocked:
        lines += [
            "",
            f"To merge anyway, a maintainer adds the `{verdict.override_label}` label; "
            "the check then passes and this comment says so.",
        ]
    if comparison.base_metrics_error:
        lines += [
            "",
            f"> **The metrics files differ in format:** {comparison.base_metrics_error}. "
            f"Rows only one side has show {MISSING} on the other.",
        ]
    elif not comparison.has_base:
        lines += ["", f"> First model: {base} has no metrics yet, so there is nothing to compare."]
    if comparison.windows_differ:
        lines += [
            "",
            "> The data window changed: each side's metrics are from its own test month. "
            + (
                "The paired column scores both models on this PR's test month."
                if comparison.same_rows
                else "Compare deltas with care: they mix model and data changes."
            ),
        ]
    return lines


def _metrics(comparison: Comparison, limit: int | None) -> list[str]:
    base = f"`{comparison.base_label}`"
    paired = comparison.same_rows_count
    order = metric_order()
    paired_metrics = {m.key: m for m in PAIRED_METRICS}
    rows = []
    for m in sorted(
        comparison.metrics, key=lambda m: order.index(m.name) if m.name in order else len(order)
    ):
        interval = comparison.delta(paired_metrics[m.name]) if m.name in paired_metrics else None
        rows.append(
            [
                metric_label(m.name),
                m.base,
                m.pr,
                signed(m.delta),
                interval_text(interval, paired) if interval else "",
            ]
        )
    ci = f"{comparison.confidence:.0%}"
    lines = [
        "### Metrics (test month)",
        "",
        *table(["Metric", base, "PR", "Δ", f"Δ with {ci} interval"], rows, limit),
    ]
    if comparison.same_rows:
        lines += [
            "",
            f"_Δ compares the two metrics files. The last column scores both models on this "
            f"PR's {paired:,} test rows and resamples those rows for both at once (paired "
            f"bootstrap), so it measures the model change alone._",
        ]
    elif comparison.has_base:
        lines += ["", f"_No paired comparison: {comparison.same_rows_note}._"]
    return lines


def _params(comparison: Comparison, limit: int | None) -> list[str]:
    if not comparison.params:
        return ["### Parameters", "", "No parameter changed."]
    rows = [[p.name, p.base, p.pr] for p in comparison.params]
    return [
        f"### Parameters changed ({len(rows)})",
        "",
        *table(["Parameter", f"`{comparison.base_label}`", "PR"], rows, limit),
    ]


def _verdict_of(dataset: Mapping[str, Any]) -> str:
    if dataset.get("dataset_drift") is None:
        return MISSING
    state = "**drift detected**" if dataset["dataset_drift"] else "no dataset drift"
    drifted, compared = dataset.get("drifted_features"), dataset.get("compared_features")
    return f"{state} ({drifted}/{compared} features)" if compared else state


def _drift(comparison: Comparison, limit: int | None) -> list[str]:
    base = f"`{comparison.base_label}`"
    sides = [
        {c.name: getattr(c, side) for c in comparison.drift_dataset} for side in ("base", "pr")
    ]
    rows = [
        [
            r.feature,
            r.method,
            r.threshold,
            None if r.base_score is None else round(r.base_score, 4),
            r.base_drifted,
            None if r.pr_score is None else round(r.pr_score, 4),
            r.pr_drifted,
        ]
        for r in comparison.drift
    ]
    return [
        "### Data drift (training data vs the month after the window)",
        "",
        f"Dataset: {base} {_verdict_of(sides[0])}; PR {_verdict_of(sides[1])}. "
        "Weather columns drift with the seasons, so drift alone is not a reason to block.",
        "",
        *table(
            [
                "Feature",
                "Method",
                "Threshold",
                f"{base} score",
                f"{base} drifted",
                "PR score",
                "PR drifted",
            ],
            rows,
            limit,
        ),
    ]


def _validation(comparison: Comparison, limit: int | None) -> list[str]:
    from contrail.data.schema import Problem

    base, pr = comparison.validation.base or {}, comparison.validation.pr or {}
    rows, problems = [], []
    for name in dict.fromkeys([*pr, *base]):
        b, p = base.get(name, {}), pr.get(name, {})
        rows.append(
            [name, _count(b.get("rows")), len(b.get("problems", [])) if b else None,
             _count(p.get("rows")), len(p.get("problems", [])) if p else None]
        )  # fmt: skip
        problems += [f"{name}: {Problem(**x).line()}" for x in p.get("problems", [])]
    header = ["Table", f"`{comparison.base_label}` rows", "problems", "PR rows", "problems"]
    lines = ["### Data validation", "", *table(header, rows, limit)]
    if problems:
        lines += ["", *table(["PR problem"], [[x] for x in problems], limit)]
    return lines


def _plots(images: Mapping[str, str]) -> list[str]:
    if not images:
        return []
    return [
        "### Plots",
        "",
        "Grey: base, blue: this PR.",
        "",
        " ".join(f"![{title}]({path})" for title, path in images.items()),
    ]


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else number(value)


def _facts(comparison: Comparison, limit: int | None) -> list[str]:
    rows = [[f.name, _count(f.base), _count(f.pr)] for f in comparison.facts]
    return ["### Run facts", "", *table(["", f"`{comparison.base_label}`", "PR"], rows, limit)]


def _links(comparison: Comparison, run_url: str | None) -> list[str]:
    if run_url:
        where = (
            f"The Evidently drift report (HTML) and interactive `dvc plots diff` charts are "
            f"artifacts of [this workflow run]({run_url})."
        )
    else:
        where = (
            "The Evidently drift report is `reports/drift.html`; for interactive charts run "
            f"`dvc plots diff {comparison.base_label}`."
        )
    return ["### Full reports", "", where]


def render(
    comparison: Comparison,
    verdict: Verdict,
    images: Mapping[str, str],
    run_url: str | None = None,
    max_chars: int = MAX_CHARS,
) -> str:
    """The comment; tables shrink until it fits in `max_chars`."""
    for limit in ROW_LIMITS:
        sections = [
            _headline(comparison, verdict),
            _metrics(comparison, limit),
            _params(comparison, limit),
            _drift(comparison, limit),
            _validation(comparison, limit),
            _plots(images),
            _facts(comparison, limit),
            _links(comparison, run_url),
        ]
        text = "\n\n".join("\n".join(s) for s in sections if s) + "\n"
        if len(text) <= max_chars:
            return text
    return text[: max_chars - len(CUT_NOTE)] + CUT_NOTE
