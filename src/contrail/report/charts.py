"""Small static SVG charts for the pull-request comment.

A PR comment can only show images, and the plotting stacks that render Vega or matplotlib to
PNG are heavy dependencies for four charts. These are plain SVG text: deterministic, a few
kilobytes, readable in GitHub's light and dark themes (they carry their own background).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

WIDTH, HEIGHT = 560, 420
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 64, 20, 40, 52
# A curve with thousands of points looks the same with a few hundred and the file stays small.
MAX_POINTS = 400
BASE_COLOR, PR_COLOR = "#8c8c8c", "#1f6feb"


@dataclass(frozen=True)
class Series:
    label: str
    color: str
    x: Sequence[float]
    y: Sequence[float]


def _thin(series: Series) -> list[tuple[float, float]]:
    points = list(zip(series.x, series.y, strict=True))
    if len(points) <= MAX_POINTS:
        return points
    step = (len(points) - 1) / (MAX_POINTS - 1)
    return [points[round(i * step)] for i in range(MAX_POINTS)]


def _frame(title: str, height: float = HEIGHT) -> list[str]:
    return [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="Helvetica, Arial, sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>',
        f'<text x="{WIDTH / 2}" y="24" text-anchor="middle" font-size="15" '
        f'font-weight="bold">{escape(title)}</text>',
    ]


def _legend(entries: Sequence[tuple[str, str]], x: float, y: float) -> list[str]:
    out = []
    for i, (label, color) in enumerate(entries):
        row = y + 18 * i
        out.append(
            f'<rect x="{x}" y="{row - 9}" width="14" height="10" fill="{color}"/>'
            f'<text x="{x + 20}" y="{row}">{escape(label)}</text>'
        )
    return out


def line_chart(
    title: str, x_label: str, y_label: str, series: Sequence[Series], diagonal: bool = False
) -> str:
    """Curves on the unit square (ROC, precision-recall, calibration), one colour each."""
    left, top = MARGIN_LEFT, MARGIN_TOP
    width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM

    def px(x: float, y: float) -> str:
        return f"{left + x * width:.1f},{top + (1 - y) * height:.1f}"

    out = _frame(title)
    for tick in (0, 0.25, 0.5, 0.75, 1):
        gx, gy = left + tick * width, top + (1 - tick) * height
        out.append(
            f'<line x1="{gx:.1f}" y1="{top}" x2="{gx:.1f}" y2="{top + height}" stroke="#e5e5e5"/>'
            f'<line x1="{left}" y1="{gy:.1f}" x2="{left + width}" y2="{gy:.1f}" stroke="#e5e5e5"/>'
            f'<text x="{gx:.1f}" y="{top + height + 16}" text-anchor="middle">{tick:g}</text>'
            f'<text x="{left - 8}" y="{gy + 4:.1f}" text-anchor="end">{tick:g}</text>'
        )
    out.append(
        f'<rect x="{left}" y="{top}" width="{width}" height="{height}" fill="none" stroke="#444"/>'
    )
    if diagonal:
        out.append(
            f'<line x1="{left}" y1="{top + height}" x2="{left + width}" y2="{top}" '
            'stroke="#bbbbbb" stroke-dasharray="4 4"/>'
        )
    for s in series:
        points = " ".join(px(x, y) for x, y in _thin(s))
        out.append(f'<polyline points="{points}" fill="none" stroke="{s.color}" stroke-width="2"/>')
    out.append(
        f'<text x="{left + width / 2}" y="{HEIGHT - 14}" text-anchor="middle">{escape(x_label)}</text>'
        f'<text transform="translate(16 {top + height / 2}) rotate(-90)" '
        f'text-anchor="middle">{escape(y_label)}</text>'
    )
    out += _legend([(s.label, s.color) for s in series], left + width - 150, top + height - 30)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def bar_chart(
    title: str,
    x_label: str,
    categories: Sequence[str],
    bars: Sequence[tuple[str, str, dict[str, float]]],
) -> str:
    """Horizontal grouped bars: one row per category, one bar per (label, colour, values)."""
    label_width = 110
    left = MARGIN_LEFT + label_width - 40
    width = WIDTH - left - MARGIN_RIGHT
    row = 14 * max(len(bars), 1) + 8
    height = row * len(categories)
    total_height = MARGIN_TOP + height + MARGIN_BOTTOM + 18 * len(bars)
    values = [float(v) for _, _, vals in bars for v in vals.values()]
    low, high = min([0.0, *values]), max([0.0, *values])
    span = (high - low) or 1.0

    def sx(v: float) -> float:
        return left + (v - low) / span * width

    out = _frame(title, total_height)
    top = MARGIN_TOP
    for i, category in enumerate(categories):
        y = top + i * row
        out.append(
            f'<text x="{left - 6}" y="{y + row / 2 + 4:.1f}" text-anchor="end">{escape(category)}</text>'
        )
        for j, (_, color, vals) in enumerate(bars):
            if category not in vals:
                continue
            x0, x1 = sorted((sx(0.0), sx(vals[category])))
            out.append(
                f'<rect x="{x0:.1f}" y="{y + 4 + 14 * j}" width="{max(x1 - x0, 0.5):.1f}" '
                f'height="12" fill="{color}"/>'
            )
    axis_y = top + height
    out.append(
        f'<line x1="{sx(0.0):.1f}" y1="{top}" x2="{sx(0.0):.1f}" y2="{axis_y}" stroke="#444"/>'
        f'<line x1="{left}" y1="{axis_y}" x2="{left + width}" y2="{axis_y}" stroke="#444"/>'
        f'<text x="{left}" y="{axis_y + 16}" text-anchor="start">{low:.3g}</text>'
        f'<text x="{left + width}" y="{axis_y + 16}" text-anchor="end">{high:.3g}</text>'
        f'<text x="{left + width / 2}" y="{axis_y + 34}" text-anchor="middle">{escape(x_label)}</text>'
    )
    out += _legend([(label, color) for label, color, _ in bars], left, axis_y + 56)
    out.append("</svg>")
    return "\n".join(out) + "\n"


# dvc.yaml plot name -> (file, title, x field, y field, x label, y label, diagonal reference)
CURVES = {
    "ROC": ("roc.svg", "ROC curve", "fpr", "tpr", "False positive rate", "True positive rate", True),
    "Precision-Recall": (
        "precision_recall.svg", "Precision-recall", "recall", "precision", "Recall", "Precision",
        False,
    ),
    "Calibration": (
        "calibration.svg", "Calibration", "prob_pred", "prob_true", "Predicted probability",
        "Observed delay rate", True,
    ),
}  # fmt: skip
IMPORTANCE = "Permutation importance"


def comparison_charts(
    plots: dict[str, list[dict[str, Any]]], base_rev: str, base_label: str
) -> dict[str, tuple[str, str]]:
    """File name -> (title, SVG) for each plot, base and PR overlaid.

    `plots` is `dvc plots diff` data: rows tagged `rev` = `base_rev` or "workspace"."""
    sides = ((base_rev, base_label, BASE_COLOR), ("workspace", "this PR", PR_COLOR))
    charts = {}
    for name, (file, title, x, y, x_label, y_label, diagonal) in CURVES.items():
        series = []
        for rev, label, color in sides:
            rows = [r for r in plots.get(name, []) if r["rev"] == rev]
            if rows:
                series.append(Series(label, color, [r[x] for r in rows], [r[y] for r in rows]))
        if series:
            charts[file] = (title, line_chart(title, x_label, y_label, series, diagonal))
    rows = plots.get(IMPORTANCE, [])
    if rows:
        by_side = [
            (label, color, {r["feature"]: r["importance"] for r in rows if r["rev"] == rev})
            for rev, label, color in sides
        ]
        by_side = [side for side in by_side if side[2]]
        # Most important first, by the PR's ranking (the base's on a first report).
        ranking = by_side[-1][2]
        features = sorted(
            {f for _, _, values in by_side for f in values}, key=lambda f: -ranking.get(f, -1e9)
        )
        charts["importance.svg"] = (
            "Permutation importance",
            bar_chart("Permutation importance", "ROC AUC drop when shuffled", features, by_side),
        )
    return charts
