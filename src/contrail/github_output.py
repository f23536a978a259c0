"""The one writer of a workflow step's outputs: `$GITHUB_OUTPUT` (and `$GITHUB_ENV`, which
takes the same syntax).

A value is written as `key=value` when it is one line, and in GitHub's multi-line form
(`key<<DELIMITER`, the value, `DELIMITER`) otherwise, with a delimiter the value does not
contain: a line break in a value can then never forge another key. Its line breaks are
written as `\n`, which is how the runner reads any of them (a `\r` before the line that
closes the value would otherwise vanish into that line's end).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from pathlib import Path

# What GitHub accepts as an output (or environment variable) name.
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
LINE_BREAK = re.compile(r"\r\n|\r|\n")


def format_outputs(values: Mapping[str, str]) -> str:
    """The lines that set `values`; a name GitHub would not accept is a bug, refused."""
    lines: list[str] = []
    for key, value in values.items():
        if not NAME.fullmatch(key):
            raise ValueError(f"not a GitHub output name: {key!r}")
        if "\n" not in value and "\r" not in value:
            lines.append(f"{key}={value}\n")
            continue
        value = LINE_BREAK.sub("\n", value)
        delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
        while delimiter in value:  # astronomically unlikely; never trusted to luck
            delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
        lines.append(f"{key}<<{delimiter}\n{value}\n{delimiter}\n")
    return "".join(lines)


def append_outputs(path: Path | None, values: Mapping[str, str]) -> None:
    """Append `values` to the file a workflow reads (nothing outside a workflow: no path)."""
    if path is not None:
        text = format_outputs(values)
        with path.open("a", encoding="utf-8") as out:
            out.write(text)
