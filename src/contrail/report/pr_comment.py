"""The pull-request comment as markdown, always under GitHub's size limit.

A reviewer reads the verdict and the five headline metrics; everything else (other metrics,
the threshold, parameters when there are many, drift, validation, charts, run facts) is in
collapsed `<details>` sections. Charts are Mermaid text that GitHub renders (`mermaid.py`):
the comment links no local file unless asked to (`plots_link`), so CML uploads nothing.

GitHub rejects a comment over 65,536 characters and CML appends its watermark, so the report
keeps a margin below that. Long tables are cut first (with a note saying how many rows are
hidden); only if that is not enough are whole sections left out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from contrail.gate.events import CheckResult
from contrail.gate.recorded import StoredVerdict
from contrail.gate.rules import Verdict
from contrail.metrics import HEADLINE_METRICS, LIFT, Metric, metric_keys
from contrail.report import mermaid
from contrail.report.compare import PAIRED_METRICS, Comparison, Interval

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
# The operating point: shown with the confusion matrix, not among the other metrics.
THRESHOLD_KEYS = ("model.threshold", "model.precision", "model.recall")
# A parameters diff this short stays visible; a longer one is collapsed.
VISIBLE_PARAMS = 8


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


def decimals(value: float | None) -> str:
    """A headline number: 4 decimals, enough to see a change the gate cares about."""
    return MISSING if value is None else f"{value:.4f}"


def signed_decimals(value: float | None) -> str:
    if value is None:
        return MISSING
    text = f"{value:+.4f}"
    return "+0.0000" if text == "-0.0000" else text


def details(summary: str, body: Sequence[str]) -> list[str]:
    """A collapsed section; the blank line after <summary> lets markdown tables render."""
    return [f"<details><summary>{summary}</summary>", "", *body, "", "</details>"]


def _base(comparison: Comparison) -> str:
    return f"`{comparison.base_label}`"


def _html_base(comparison: Comparison) -> str:
    """The base branch inside HTML (a <summary>), where markdown does not apply."""
    return f"<code>{escape(comparison.base_label)}</code>"


def interval_cell(interval: Interval | None, rows: int) -> str:
    """The interval column: a judged metric's paired bootstrap interval, "—" for the others."""
    if interval is None:
        return "—"
    if interval.low is None or interval.high is None:
        return "no interval"
    return f"[{signed_decimals(interval.low)}, {signed_decimals(interval.high)}] (paired, {rows:,} rows)"


def _title(verdict: Verdict) -> str:
    if verdict.undecided:
        return "⚠️ Model report: the gate cannot decide"
    if verdict.overridden:
        return f"⚠️ Model report: promote, regression accepted with the `{verdict.override_label}` label"
    if verdict.promote:
        return "✅ Model report: promote"
    return "❌ Model report: blocked"


def _verdict(comparison: Comparison, verdict: Verdict) -> list[str]:
    return [f"## {_title(verdict)}", "", f"**Verdict:** {verdict.line()}."]


def _headline_table(comparison: Comparison) -> list[str]:
    """Both models on the PR's test rows; without that, each metrics file on its own."""
    same_rows = [
        (metric, change)
        for metric in HEADLINE_METRICS
        if (change := comparison.on_same_rows(metric)) is not None
    ]
    if not same_rows:
        return _own_test_months_table(comparison)
    judged = {m.key for m in PAIRED_METRICS}
    rows = comparison.same_rows.rows
    cells = [
        [
            metric_label(metric.key),
            decimals(change.base),
            decimals(change.pr),
            signed_decimals(change.delta),
            interval_cell(comparison.delta(metric) if metric.key in judged else None, rows),
        ]
        for metric, change in same_rows
    ]
    base = _base(comparison)
    header = ["Metric", base, "PR", "Δ", f"{comparison.confidence:.0%} interval of Δ"]
    names = " and ".join(m.label for m in PAIRED_METRICS)
    note = (
        f"_Both models scored on the same {rows:,} test rows (this PR's test month), so Δ "
        f"(PR minus {base}) is the model change alone. {base}'s model: "
        f"{comparison.same_rows.source}. Interval: **paired bootstrap**, both models resampled "
        f"together; only the metrics the gate judges ({names}) have one._"
    )
    return [*table(header, cells, None), "", note]


def _own_test_months_table(comparison: Comparison) -> list[str]:
    """What each metrics file says, on its own test month: shown, never compared."""
    base = _base(comparison)
    rows = []
    for metric in HEADLINE_METRICS:
        change = comparison.metric(metric)
        rows.append([metric_label(metric.key), decimals(change.base), decimals(change.pr)])
    header = ["Metric", f"{base} (its own test month)", "PR (its own test month)"]
    lines = table(header, rows, None)
    if comparison.same_rows.status == "first model":
        return lines
    months = ", and the months differ" if comparison.windows_differ else ""
    return [
        *lines,
        "",
        f"_Each model on its own test rows{months}: **not comparable**, so no Δ. The gate "
        f"judges only both models scored on the same rows; the verdict says why {base}'s "
        "model could not be._",
    ]


def _notes(comparison: Comparison, verdict: Verdict) -> list[str]:
    base = _base(comparison)
    lines = []
    if verdict.blocked:
        lines += [
            f"To merge anyway, a maintainer adds the `{verdict.override_label}` label; "
            "the check then passes and this comment says so.",
            "",
        ]
    if verdict.undecided:
        lines += [
            f"> **Nothing was judged.** The gate decides once {base}'s model can be scored on "
            f"this PR's test rows: with {base}'s DVC cache restored, a DVC remote that has the "
            f"model, or a {base} whose `dvc repro` succeeds (the model is then rebuilt). Re-run "
            "the workflow after that; the override label does not apply.",
            "",
        ]
    if comparison.base_metrics_error:
        lines += [
            f"> **The metrics files differ in format:** {comparison.base_metrics_error}. "
            f"Rows only one side has show {MISSING} on the other.",
            "",
        ]
    elif comparison.same_rows.status == "first model":
        lines += [
            f"> First model: {base} (`{comparison.base_sha[:8]}`) has no model yet, so there "
            "is nothing to compare.",
            "",
        ]
    if comparison.windows_differ and comparison.same_rows.status == "paired":
        lines += [
            f"> The data window changed: the table above scores {base}'s model on this PR's "
            "test month; the collapsed metrics-file rows below are each from its own month.",
            "",
        ]
    lines += [
        f"This comment compares the model `dvc repro` trained on this pull request with the one "
        f"on {base} (`{comparison.base_sha[:8]}`) and is updated on every push. "
        "The promotion rule and its bounds are the `gate:` section of `params.yaml`."
    ]
    return lines


def _metric_rows(comparison: Comparison, keys: Sequence[str]) -> list[list[Any]]:
    by_name = {m.name: m for m in comparison.metrics}
    return [
        [metric_label(k), by_name[k].base, by_name[k].pr, signed(by_name[k].delta)]
        for k in keys
        if k in by_name
    ]


def _other_keys(comparison: Comparison) -> list[str]:
    order = metric_order()
    shown = {m.key for m in HEADLINE_METRICS} | set(THRESHOLD_KEYS)
    names = [m.name for m in comparison.metrics if m.name not in shown]
    return sorted(names, key=lambda n: order.index(n) if n in order else len(order))


def _other_metrics(comparison: Comparison, limit: int | None) -> list[str]:
    rows = _metric_rows(comparison, _other_keys(comparison))
    if not rows:
        return []
    header = ["Metric", _base(comparison), "PR", "Δ"]
    return details(
        f"Other metrics ({len(rows)}): naive baseline, lift, ROC AUC interval, test set",
        [
            "Exact values from the two metrics files (each on its own test month).",
            "",
            *table(header, rows, limit),
        ],
    )


def _threshold(
    comparison: Comparison, plots: Mapping[str, Sequence[Mapping[str, Any]]], limit: int | None
) -> list[str]:
    rows = _metric_rows(comparison, THRESHOLD_KEYS)
    body = [
        "The threshold is chosen on the training rows only (`threshold:` in "
        "`params.yaml`); precision, recall, F1 and the confusion matrix are at it, from the "
        "two metrics and plots files (each on its own test month).",
        "",
        *table(["Metric", _base(comparison), "PR", "Δ"], rows, limit),
    ]
    matrix = mermaid.confusion(
        plots.get(mermaid.CONFUSION, []), comparison.base_sha, comparison.base_label
    )
    if matrix:
        body += [
            "",
            "Confusion matrix (test rows; 1 = delayed):",
            "",
            *table(matrix[0], matrix[1:], limit),
        ]
    return details("Threshold: precision, recall, confusion matrix", body)


def _params(comparison: Comparison, limit: int | None) -> list[str]:
    if not comparison.params:
        return ["**Parameters:** none changed."]
    rows = [[p.name, p.base, p.pr] for p in comparison.params]
    body = table(["Parameter", _base(comparison), "PR"], rows, limit)
    if len(rows) <= VISIBLE_PARAMS:
        return [f"**Parameters changed ({len(rows)}):**", "", *body]
    return details(f"Parameters changed ({len(rows)})", body)


def _verdict_of(dataset: Mapping[str, Any]) -> str:
    if dataset.get("dataset_drift") is None:
        return MISSING
    state = "drift detected" if dataset["dataset_drift"] else "no dataset drift"
    drifted, compared = dataset.get("drifted_features"), dataset.get("compared_features")
    return f"{state} ({drifted}/{compared} features)" if compared else state


def _drift(comparison: Comparison, limit: int | None) -> list[str]:
    base = _base(comparison)
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
    summary = (
        f"Data drift: {_html_base(comparison)} {_verdict_of(sides[0])}; PR {_verdict_of(sides[1])}"
    )
    header = [
        "Feature", "Method", "Threshold", f"{base} score", f"{base} drifted", "PR score",
        "PR drifted",
    ]  # fmt: skip
    return details(
        summary,
        [
            "Training data against the month after the window. Weather columns drift with the "
            "seasons, so drift alone is not a reason to block.",
            "",
            *table(header, rows, limit),
        ],
    )


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
    if not rows:
        return []
    header = ["Table", f"{_base(comparison)} rows", "problems", "PR rows", "problems"]
    body = table(header, rows, limit)
    if problems:
        body += ["", *table(["PR problem"], [[x] for x in problems], limit)]
    summary = f"Data validation: {len(problems)} problem(s) in the PR's data"
    return details(summary, body)


def _charts(comparison: Comparison, plots: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[str]:
    found = mermaid.charts(plots, comparison.base_sha, comparison.base_label)
    if not found:
        return []
    body = ["From the two plots files (each on its own test month).", ""]
    for caption, chart in found:
        body += [caption, "", chart, ""]
    names = ", ".join(caption.split("**")[1] for caption, _ in found)
    return details(f"Charts: {names}", body[:-1])


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else number(value)


def _facts(comparison: Comparison, limit: int | None) -> list[str]:
    rows = [[f.name, _count(f.base), _count(f.pr)] for f in comparison.facts]
    if not rows:
        return []
    return details("Run facts", table(["", _base(comparison), "PR"], rows, limit))


def _links(comparison: Comparison, run_url: str | None, plots_link: str | None) -> list[str]:
    if run_url:
        where = (
            f"The Evidently drift report (HTML) and interactive `dvc plots diff` charts are "
            f"artifacts of [this workflow run]({run_url})."
        )
    else:
        where = (
            "For the Evidently drift report run `make drift-report` (`reports/drift.html`); "
            f"for interactive charts, `dvc plots diff {comparison.base_label}`."
        )
    if plots_link:
        where += f" [Interactive charts]({plots_link})."
    return [f"**Full reports:** {where}"]


def render(
    comparison: Comparison,
    verdict: Verdict,
    plots: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    run_url: str | None = None,
    plots_link: str | None = None,
    max_chars: int = MAX_CHARS,
) -> str:
    """The comment; tables shrink until it fits in `max_chars`, then sections are left out.

    `plots` is `revision.plot_data` (rows tagged with `rev`), drawn as Mermaid charts.
    `plots_link` (off by default) links the interactive charts: the only local link, which
    `cml comment update --publish` would upload."""
    plots = plots or {}
    sections: list[list[str]] = []
    for limit in ROW_LIMITS:
        sections = [
            _verdict(comparison, verdict),
            _headline_table(comparison),
            _notes(comparison, verdict),
            _params(comparison, limit),
            _charts(comparison, plots),
            _threshold(comparison, plots, limit),
            _other_metrics(comparison, limit),
            _drift(comparison, limit),
            _validation(comparison, limit),
            _facts(comparison, limit),
            _links(comparison, run_url, plots_link),
        ]
        text = _join(sections)
        if len(text) <= max_chars:
            return text
    # Whole sections, in order, while they fit: a cut never leaves a chart or a <details> open.
    kept: list[list[str]] = []
    for section in sections:
        if len(_join([*kept, section]).rstrip("\n") + CUT_NOTE) > max_chars:
            break
        kept.append(section)
    if not kept:
        return _join(sections)[: max_chars - len(CUT_NOTE)] + CUT_NOTE
    return _join(kept).rstrip("\n") + CUT_NOTE


def _join(sections: Sequence[Sequence[str]]) -> str:
    return "\n\n".join("\n".join(s) for s in sections if s) + "\n"


def gate_comment(result: CheckResult, verdict: StoredVerdict | None, report: str | None) -> str:
    """The pull-request comment: the gate's current conclusion over the training report, so a
    re-evaluation after a label change says what it concluded and why."""
    icon = {"pass": "✅", "fail": "❌"}.get(result.outcome, "⚠️")
    override = verdict.override_label if verdict is not None else "the override label"
    lines = [
        f"> {icon} **Promotion gate:** {result.message}",
        ">",
        f"> Judged with the pull request's labels at evaluation time; adding or removing "
        f"`{override}` re-evaluates this verdict without retraining.",
    ]
    text = "\n".join(lines) + "\n"
    return text + ("\n" + report if report else "")
