"""What the retraining step does on GitHub, decided from the open pull requests (pure).

One retraining PR per target window, on the branch `retrain/<artifact>-<end month>`:
the same target updates its PR, a newer target opens a PR and closes the older ones with a
link to it, and an unchanged branch does nothing at all.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

LABEL = "retrain"


def branch_name(artifact: str, end: str) -> str:
    return f"retrain/{artifact}-{end}"


def target_of(branch: str, artifact: str) -> str | None:
    """The end month a retraining branch of `artifact` targets; None for any other branch
    (another artifact's, whose name `artifact` may prefix, or a person's `...-2013-07-fix`)."""
    prefix = f"retrain/{artifact}-"
    target = branch[len(prefix) :] if branch.startswith(prefix) else ""
    return target if re.fullmatch(r"\d{4}-\d{2}", target) else None


@dataclass(frozen=True)
class Pull:
    number: int
    branch: str
    url: str


@dataclass(frozen=True)
class Plan:
    # The open PR of this branch to update, or None to open one.
    update: Pull | None
    # Open retraining PRs for older targets, to close with a link to this one.
    close: tuple[Pull, ...]
    # Whether the branch changed (pushed): only then is anything sent at all.
    changed: bool
    # An open retraining PR for a newer window: this older target is stale, nothing is sent.
    newer: Pull | None = None

    @property
    def noop(self) -> bool:
        return self.newer is not None or (
            not self.changed and self.update is not None and not self.close
        )


def plan(open_pulls: Sequence[Pull], branch: str, artifact: str, changed: bool) -> Plan:
    target = target_of(branch, artifact)
    if target is None:
        raise ValueError(f"{branch} is not a retraining branch of {artifact}")
    ours = next((p for p in open_pulls if p.branch == branch), None)
    targets = {p: target_of(p.branch, artifact) for p in open_pulls if p.branch != branch}
    older = tuple(p for p, t in targets.items() if t is not None and t < target)
    newer = next((p for p, t in targets.items() if t is not None and t > target), None)
    return Plan(ours, older, changed, newer)
