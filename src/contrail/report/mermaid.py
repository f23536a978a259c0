"""Charts as GitHub-rendered Mermaid (`xychart-beta`) text: nothing to upload, no local file.

An `xychart-beta` line on a numeric x-axis spreads its values evenly over the axis range, so
every curve is first resampled at evenly spaced x (`resample`). The chart has no legend:
series order sets the colour and the caller says in words which line is which.

Everything here is pure: it reshapes `dvc plots diff` data (rows tagged with `rev`) into text.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# A few dozen points draw a smooth enough curve and keep the comment small.
POINTS = 21
DECIMALS = 4
WORKSPACE = "workspace"


def evenly_spaced(low: float, high: float, count: int = POINTS) -> list[float]:
    """`count` x values from `low` to `high`, both included, rounded to `DECIMALS`."""
    if count < 2:
        raise ValueError("need at least two points")
    step = (high - low) / (count - 1)
    return [round(low + i * step, DECIMALS) for i in range(count)]


def resample(points: Sequence[tuple[float, float]], xs: Sequence[float]) -> list[float]:
    """y of the piecewise-linear curve through `points` at each x of `xs`.

    Points are taken in x order (ties keep their given order); where several share an x (a
    vertical step of a ROC curve), the curve takes the last one's y from that x on. Outside the
    points' range the curve is held flat at the nearest end."""
    if not points:
        raise ValueError("a curve needs at least one point")
    ordered = sorted(((float(x), float(y)) for x, y in points), key=lambda p: p[0])
    px = [x for x, _ in ordered]
    out = []
    for x in xs:
        i = bisect_right(px, x) - 1
        if i < 0:
            y = ordered[0][1]
        elif i == len(ordered) - 1:
            y = ordered[-1][1]
        else:
            (x0, y0), (x1, y1) = ordered[i], ordered[i + 1]
            y = y0 + (y1 - y0) * (x - x0) / (x1 - x0)
        out.append(y)
    return out


def _text(value: str) -> str:
    """A title or axis label inside Mermaid's double quotes."""
    return '"' + value.replace('"', "'").replace("\n", " ") + '"'


def _num(value: float) -> str:
    text = f"{round(value, DECIMALS):.{DECIMALS}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _values(values: Sequence[float]) -> str:
    return "[" + ", ".join(_num(v) for v in values) + "]"


@dataclass(frozen=True)
class Line:
    """One series of a line chart, in words for the text around the chart."""

    label: str
    points: Sequence[tuple[float, float]]


def line_chart(
    title: str,
    x_label: str,
    y_label: str,
    lines: Sequence[Line],
    x_range: tuple[float, float] = (0.0, 1.0),
    y_range: tuple[float, float] = (0.0, 1.0),
    count: int = POINTS,
) -> str:
    """A fenced ```mermaid block: every line resampled at `count` evenly spaced x."""
    xs = evenly_spaced(*x_range, count)
    body = [
        "xychart-beta",
        f"    title {_text(title)}",
        f"    x-axis {_text(x_label)} {_num(x_range[0])} --> {_num(x_range[1])}",
        f"    y-axis {_text(y_label)} {_num(y_range[0])} --> {_num(y_range[1])}",
        *(f"    line {_values(resample(line.points, xs))}" for line in lines),
    ]
    return "\n".join(["```mermaid", *body, "```"])


def bar_chart(title: str, y_label: str, bars: Sequence[tuple[str, float]]) -> str:
    """A fenced ```mermaid block: one bar per (category, value), in the given order."""
    values = [v for _, v in bars]
    low = min(0.0, *values)
    high = max(0.0, *values)
    if high == low:
        high = low + 1.0
    categories = ", ".join(_text(name) for name, _ in bars)
    body = [
        "xychart-beta",
        f"    title {_text(title)}",
        f"    x-axis [{categories}]",
        f"    y-axis {_text(y_label)} {_num(_round_out(low, -1))} --> {_num(_round_out(high, 1))}",
        f"    bar {_values(values)}",
    ]
    return "\n".join(["```mermaid", *body, "```"])


def _round_out(value: float, direction: int, step: float = 0.01) -> float:
    """`value` rounded away from the data (down for a minimum, up for a maximum)."""
    scaled = value / step
    return (math.floor(scaled) if direction < 0 else math.ceil(scaled)) * step


# dvc.yaml plot name -> (title, x field, y field, x label, y label)
CURVES = {
    "ROC": ("ROC curve", "fpr", "tpr", "False positive rate", "True positive rate"),
    "Precision-Recall": ("Precision-recall", "recall", "precision", "Recall", "Precision"),
}
CALIBRATION = "Calibration"
IMPORTANCE = "Permutation importance"
CONFUSION = "Confusion matrix"


def _side(rows: Sequence[Mapping[str, Any]], rev: str) -> list[Mapping[str, Any]]:
    return [r for r in rows if r.get("rev") == rev]


def _points(rows: Sequence[Mapping[str, Any]], x: str, y: str) -> list[tuple[float, float]]:
    return [
        (float(r[x]), float(r[y])) for r in rows if r.get(x) is not None and r.get(y) is not None
    ]


def _sides_text(labels: Sequence[str]) -> str:
    """Which line is which: Mermaid draws the first series in its first colour, and so on."""
    order = ("first", "second", "third")
    return "; ".join(f"{order[i]} line: {label}" for i, label in enumerate(labels))


def charts(
    plots: Mapping[str, Sequence[Mapping[str, Any]]], base_rev: str, base_label: str
) -> list[tuple[str, str]]:
    """(caption, mermaid block) for each chart there is data for, base before PR.

    `plots` is `dvc plots diff` data: rows tagged `rev` = `base_rev` or "workspace"."""
    sides = ((base_rev, f"`{base_label}`"), (WORKSPACE, "this PR"))
    out = []
    for name, (title, x, y, x_label, y_label) in CURVES.items():
        lines = []
        for rev, label in sides:
            points = _points(_side(plots.get(name, []), rev), x, y)
            if points:
                lines.append(Line(label, points))
        if lines:
            caption = f"**{title}** ({_sides_text([line.label for line in lines])})."
            out.append((caption, line_chart(title, x_label, y_label, lines)))
    calibration = _calibration(plots.get(CALIBRATION, []), sides)
    if calibration:
        out.append(calibration)
    importance = _importance(plots.get(IMPORTANCE, []))
    if importance:
        out.append(importance)
    return out


def _calibration(
    rows: Sequence[Mapping[str, Any]], sides: Sequence[tuple[str, str]]
) -> tuple[str, str] | None:
    """Observed against predicted rate over the range the bins cover, with the diagonal."""
    lines = []
    for rev, label in sides:
        points = _points(_side(rows, rev), "prob_pred", "prob_true")
        if points:
            lines.append(Line(label, points))
    if not lines:
        return None
    xs = [x for line in lines for x, _ in line.points]
    ys = [y for line in lines for _, y in line.points]
    low = max(0.0, _round_out(min(xs), -1, 0.05))
    high = min(1.0, _round_out(max(xs), 1, 0.05))
    if high <= low:
        low, high = 0.0, 1.0
    diagonal = Line("perfect calibration (diagonal)", [(low, low), (high, high)])
    y_high = min(1.0, _round_out(max([*ys, high]), 1, 0.05))
    y_low = max(0.0, _round_out(min([*ys, low]), -1, 0.05))
    caption = (
        f"**Calibration**, predicted delay probability against the observed delay rate per bin "
        f"({_sides_text([line.label for line in (*lines, diagonal)])}; each curve is held flat "
        "beyond its own first and last bin)."
    )
    chart = line_chart(
        "Calibration",
        "Predicted probability",
        "Observed delay rate",
        [*lines, diagonal],
        x_range=(round(low, 2), round(high, 2)),
        y_range=(round(y_low, 2), round(y_high, 2)),
    )
    return caption, chart


def _importance(rows: Sequence[Mapping[str, Any]]) -> tuple[str, str] | None:
    """The PR's permutation importance, most important first."""
    pr = [r for r in _side(rows, WORKSPACE) if r.get("importance") is not None]
    if not pr:
        return None
    bars = sorted(
        ((str(r["feature"]), float(r["importance"])) for r in pr), key=lambda b: (-b[1], b[0])
    )
    caption = (
        "**Permutation importance** of this PR's model (ROC AUC drop when a feature is shuffled)."
    )
    return caption, bar_chart("Permutation importance", "ROC AUC drop", bars)


def confusion(rows: Sequence[Mapping[str, Any]], base_rev: str, base_label: str) -> list[list[str]]:
    """Rows of a small table: actual class, then predicted 0 / 1 counts for each side present."""
    sides = [(base_rev, f"`{base_label}`"), (WORKSPACE, "PR")]
    counts: dict[str, dict[tuple[str, str], int]] = {}
    for rev, _ in sides:
        for r in _side(rows, rev):
            key = (str(r["actual"]), str(r["predicted"]))
            counts.setdefault(rev, {})[key] = counts.get(rev, {}).get(key, 0) + int(r["count"])
    present = [(rev, label) for rev, label in sides if rev in counts]
    if not present:
        return []
    classes = sorted({c for rev, _ in present for key in counts[rev] for c in key})
    header = ["Actual"] + [f"{label}: predicted {p}" for _, label in present for p in classes]
    table = [header]
    for actual in classes:
        table.append(
            [actual]
            + [f"{counts[rev].get((actual, p), 0):,}" for rev, _ in present for p in classes]
        )
    return table
