"""Calendar months as integers (year * 12 + month - 1), so windows compare without pandas.

params.py and every stage use this: importing pandas just to compare "2013-06" with a
flight's year and month would add a second to each `contrail` command's start-up.
"""

from __future__ import annotations

from typing import Any


def index(month: str) -> int:
    """'2013-06' -> 24161."""
    year, number = month.split("-")
    return int(year) * 12 + int(number) - 1


def name(month_index: int) -> str:
    """24161 -> '2013-06'."""
    return f"{month_index // 12:04d}-{month_index % 12 + 1:02d}"


def of(table: Any) -> Any:
    """Month index of each row of a table with `year` and `month` columns (a pandas Series)."""
    return table["year"] * 12 + table["month"] - 1
