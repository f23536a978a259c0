"""The verdict the training job records (`reports/gate.json`), before any label is applied.

Labels change after training, so the training job records what the comparison concluded and
the gate job applies the labels the pull request has when it runs (`events.judge`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class VerdictFileError(ValueError):
    """The recorded verdict cannot be read; the message says why."""


@dataclass(frozen=True)
class StoredVerdict:
    """What the training run concluded, before any label is applied."""

    # The pull request's head commit the model was trained on (or the checkout's HEAD).
    sha: str
    base: str
    base_sha: str
    # Bounds the model broke (empty: it may be promoted on its own merits) and those it met.
    failures: tuple[str, ...]
    checks: tuple[str, ...]
    override_label: str
    # Why the comparison could not be made (the base model could not be obtained): the gate
    # then cannot decide, whatever the labels.
    undecided: str = ""

    @property
    def blocked(self) -> bool:
        return bool(self.failures)

    def to_json(self) -> dict[str, Any]:
        return {
            "sha": self.sha,
            "base": self.base,
            "base_sha": self.base_sha,
            "promote": not self.blocked and not self.undecided,
            "undecided": self.undecided,
            "failures": list(self.failures),
            "checks": list(self.checks),
            "override_label": self.override_label,
        }

    @classmethod
    def from_json(cls, payload: object) -> StoredVerdict:
        if not isinstance(payload, Mapping):
            raise VerdictFileError("not a JSON object")
        try:
            fields = {name: payload[name] for name in ("sha", "base", "base_sha", "undecided")}
            lists = {name: payload[name] for name in ("failures", "checks")}
            override_label = payload["override_label"]
        except KeyError as exc:
            raise VerdictFileError(f"missing {exc.args[0]!r}") from None
        texts = [*fields.values(), override_label]
        if not all(isinstance(v, str) for v in texts) or not all(
            isinstance(v, list) and all(isinstance(item, str) for item in v) for v in lists.values()
        ):
            raise VerdictFileError("unexpected value types")
        if not fields["sha"] or not override_label:
            raise VerdictFileError("empty sha or override_label")
        return cls(
            sha=fields["sha"],
            base=fields["base"],
            base_sha=fields["base_sha"],
            failures=tuple(lists["failures"]),
            checks=tuple(lists["checks"]),
            override_label=override_label,
            undecided=fields["undecided"],
        )

    @classmethod
    def loads(cls, text: str) -> StoredVerdict:
        try:
            return cls.from_json(json.loads(text))
        except json.JSONDecodeError as exc:
            raise VerdictFileError(f"not JSON ({exc.msg})") from None
