"""The one `$GITHUB_OUTPUT` writer, read back the way GitHub's runner reads the file: a line
`key=value`, or `key<<DELIMITER`, then the value's lines up to the line `DELIMITER`."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contrail.github_output import append_outputs, format_outputs

LINE_BREAK = re.compile(r"\r\n|\r|\n")


def read_as_github(text: str) -> list[tuple[str, str]]:
    """The runner's parser (actions/runner, file commands): lines end at \\r\\n, \\r or \\n."""
    lines = iter(LINE_BREAK.split(text))
    found = []
    for line in lines:
        if not line:
            continue
        equals, heredoc = line.find("="), line.find("<<")
        if equals >= 0 and (heredoc < 0 or equals < heredoc):
            found.append((line[:equals], line[equals + 1 :]))
            continue
        assert heredoc >= 0, f"neither key=value nor key<<DELIMITER: {line!r}"
        key, delimiter = line[:heredoc], line[heredoc + 2 :]
        value = []
        for inner in lines:
            if inner == delimiter:
                break
            value.append(inner)
        else:
            raise AssertionError(f"{key}: no closing {delimiter!r}")
        found.append((key, "\n".join(value)))
    return found


def test_single_line_values_are_key_equals_value():
    text = format_outputs({"version": "v1.2.0", "pr": "", "image": "r@sha256:ab=="})
    assert text == "version=v1.2.0\npr=\nimage=r@sha256:ab==\n"


def test_a_line_break_cannot_forge_another_output():
    values = {"version": "v1\nimage=evil", "note": "line one\r\nline two\n"}
    assert read_as_github(format_outputs(values)) == [
        ("version", "v1\nimage=evil"),
        ("note", "line one\nline two\n"),
    ]


def test_the_delimiter_is_not_in_the_value():
    value = "ghadelimiter_\nEOF\n" + "ghadelimiter_" + "0" * 32
    (head, *_) = format_outputs({"body": value}).splitlines()
    assert head.startswith("body<<ghadelimiter_")
    assert head.removeprefix("body<<") not in value


@given(
    st.dictionaries(
        st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,12}", fullmatch=True),
        st.text(st.characters(blacklist_categories=["Cs"])),
        max_size=4,
    )
)
def test_what_is_written_is_what_github_reads(values):
    """Line breaks come back as \\n, as the runner joins the value's lines with it."""
    assert read_as_github(format_outputs(values)) == [
        (key, LINE_BREAK.sub("\n", value)) for key, value in values.items()
    ]


@pytest.mark.parametrize("key", ["", "a b", "a=b", "x<<y", "1st", "naïve", "a\nb"])
def test_a_name_github_would_not_accept_is_refused(key):
    with pytest.raises(ValueError, match="not a GitHub output name"):
        format_outputs({key: "x"})


def test_outputs_are_appended_and_nothing_is_written_outside_a_workflow(tmp_path):
    output = tmp_path / "github_output"
    output.write_text("earlier=1\n")
    append_outputs(output, {"mode": "kind"})
    append_outputs(None, {"mode": "cluster"})
    assert read_as_github(output.read_text()) == [("earlier", "1"), ("mode", "kind")]
