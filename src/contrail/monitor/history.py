"""The monitor's history: one row per checked month and model, as a CSV that DVC plots.

It lives on its own branch (`monitor-history`), written only by the scheduled monitor: no
bot commit lands on `main` every week, and the branch's README draws the rows as Mermaid
charts that GitHub renders. Checking the same month with the same model again replaces its
row, so a weekly schedule on a monthly clock keeps one point per month.
"""

from __future__ import annotations

import copy
import csv
import io
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

FILE = "history.csv"


@dataclass(frozen=True)
class Row:
    month: str
    model_version: str
    rows: int
    labelled_rows: int
    roc_auc: float | None
    roc_auc_low: float | None
    roc_auc_high: float | None
    test_roc_auc: float
    brier: float | None
    test_brier: float
    delay_rate: float | None
    drifted_share: float
    prediction_drift: float | None
    retrain: bool
    reason: str


_FLOATS = {f.name for f in fields(Row) if "float" in str(f.type)}
_INTS = {"rows", "labelled_rows"}


def parse(text: str, source: str = FILE) -> list[Row]:
    reader = csv.DictReader(io.StringIO(text))
    expected = [f.name for f in fields(Row)]
    if text.strip() and reader.fieldnames != expected:
        raise ValueError(f"{source}: columns {reader.fieldnames} are not {expected}")
    rows = []
    for line, record in enumerate(reader, start=2):
        try:
            rows.append(Row(**{k: _value(k, v) for k, v in record.items()}))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{source}, line {line}: {exc}") from None
    return rows


def _value(key: str, text: str) -> Any:
    if key in _FLOATS:
        return float(text) if text else None
    if key in _INTS:
        return int(text)
    if key == "retrain":
        return text == "true"
    return text


def render(rows: Sequence[Row]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([f.name for f in fields(Row)])
    for row in rows:
        writer.writerow([_cell(v) for v in asdict(row).values()])
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".")
    return str(value)


def upsert(rows: Sequence[Row], row: Row) -> list[Row]:
    """`rows` with `row` in month order, replacing the row of the same month and model; within
    a month, rows stay in the order they were checked (the newest last)."""
    kept = [r for r in rows if (r.month, r.model_version) != (row.month, row.model_version)]
    return sorted([*kept, row], key=lambda r: r.month)


def _chart(title: str, y_label: str, months: Sequence[str], series: list[list[float]]) -> str:
    labels = ", ".join(f'"{month}"' for month in months)
    lines = [f"    line [{', '.join(f'{v:.4f}' for v in values)}]" for values in series]
    return "\n".join(
        ["```mermaid", "xychart-beta", f'    title "{title}"', f"    x-axis [{labels}]",
         f'    y-axis "{y_label}" 0 --> 1', *lines, "```"]
    )  # fmt: skip


def readme(rows: Sequence[Row]) -> str:
    """The history branch's README: the latest row per month as two Mermaid line charts (the
    AUC chart over the months that have outcomes: Mermaid draws numbers only)."""
    latest = {row.month: row for row in rows}
    ordered = [latest[m] for m in sorted(latest)]
    measured = [(row, row.roc_auc) for row in ordered if row.roc_auc is not None]
    parts = [
        "# Monitor history",
        "",
        f"Written by the scheduled monitor (`.github/workflows/monitor.yml`); {FILE} has one "
        "row per checked month and model. `dvc plots show` draws the same from dvc.yaml.",
        "",
    ]
    if measured:
        parts += [
            "ROC AUC per production month (first line) and the model's own test-month AUC "
            "(second line):",
            "",
            _chart(
                "ROC AUC", "ROC AUC", [row.month for row, _ in measured],
                [[auc for _, auc in measured], [row.test_roc_auc for row, _ in measured]],
            ),
            "",
        ]  # fmt: skip
    if ordered:
        parts += [
            "Share of features that drifted, per production month:",
            "",
            _chart(
                "Drift share",
                "share",
                [row.month for row in ordered],
                [[row.drifted_share for row in ordered]],
            ),
            "",
            "| month | model | flights | ROC AUC | drift share | retrain | reason |",
            "|---|---|---|---|---|---|---|",
            *(
                f"| {r.month} | `{r.model_version}` | {r.rows:,} | "
                f"{'' if r.roc_auc is None else f'{r.roc_auc:.3f}'} | {r.drifted_share:.2f} | "
                f"{'yes' if r.retrain else 'no'} | {r.reason} |"
                for r in ordered
            ),
        ]
    return "\n".join(parts) + "\n"


# `dvc plots show` on the history branch: AUC and drift share over the checked months, drawn
# with DVC's "simple" line template on a time axis (its own x axis is numeric: "2013-07" would
# not plot), saved on the branch as .dvc/plots/months.json.
TEMPLATE = "months"
DVC_YAML = f"""plots:
  - ROC AUC per month:
      template: {TEMPLATE}
      x: month
      y:
        {FILE}: [roc_auc, test_roc_auc]
  - Drift share per month:
      template: {TEMPLATE}
      x: month
      y:
        {FILE}: drifted_share
"""


def months_template() -> str:
    from dvc_render.vega_templates import SimpleLinearTemplate  # type: ignore[import-untyped]  # dvc-render: no py.typed

    content = copy.deepcopy(SimpleLinearTemplate.DEFAULT_CONTENT)
    content["encoding"]["x"]["type"] = "temporal"
    return json.dumps(content, indent=2) + "\n"
