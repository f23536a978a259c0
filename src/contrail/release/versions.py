"""Release decisions, pure: which version a merge gets, what a tag message says, whether an
assignment is needed, and which version a rollback goes to. `registry.py` does the git/GTO I/O.

**Version rule.** A commit whose model changed gets the next SemVer version of the latest
registered one (the highest version, whatever commit it is on):

- *major* when the model card's feature list (`models/model.json`, as a set) changes: the
  service's request schema follows it, so the API changes;
- *minor* when the training window (`train_start`..`train_end` in the card) or the training
  data (the md5 `dvc.lock` records for `data/raw/window.parquet`) changes;
- *patch* otherwise: hyperparameters, threshold policy, code.

The first version is `v1.0.0`, passed to GTO explicitly (GTO alone would start at v0.0.1):
the first release already serves a public API.

**No version** when the model file is byte-identical to the latest registered version's (the
same md5 of `models/model.joblib` in `dvc.lock`), and when the commit is already registered:
a re-run of the same workflow is a no-op, never an error.

**Stage assignments** (`flight-delay#<stage>#N`) are made after that stage's smoke test. The
version already holding the stage is a no-op. Any other version gets a new assignment tag; a
rollback to a version that held the stage before needs GTO's `--force` (GTO keeps every
assignment active), and tags are never deleted. The order of a stage's history is GTO's
per-artifact counter N, which, unlike tag timestamps (one-second resolution), is strict.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Self

from contrail.identity import MODEL_NAME

if TYPE_CHECKING:
    from contrail.metrics import Evaluation

STAGES = ("staging", "production")
FIRST_VERSION = "v1.0.0"
# The line in a version tag's message after which the machine-readable JSON block starts.
RECORD_MARKER = "contrail-release/v1:"

_VERSION = re.compile(r"^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
_IMAGE_BY_DIGEST = re.compile(r"^[a-z0-9][a-z0-9._/:-]*@sha256:[0-9a-f]{64}$")

Bump = Literal["major", "minor", "patch", "first"]


class ReleaseError(ValueError):
    """A release step cannot go ahead because of its input; the message says why."""


def parse_version(version: str) -> tuple[int, int, int]:
    found = _VERSION.match(version)
    if not found:
        raise ReleaseError(f"{version!r} is not a version like v1.2.3")
    major, minor, patch = (int(part) for part in found.groups())
    return major, minor, patch


def bump_version(version: str, part: Bump) -> str:
    major, minor, patch = parse_version(version)
    if part == "major":
        return f"v{major + 1}.0.0"
    if part == "minor":
        return f"v{major}.{minor + 1}.0"
    if part == "patch":
        return f"v{major}.{minor}.{patch + 1}"
    return FIRST_VERSION


def check_image(image: str) -> str:
    """The image reference, if it names the image by digest (`repo@sha256:<64 hex>`)."""
    if not _IMAGE_BY_DIGEST.match(image):
        raise ReleaseError(
            f"--image-digest must name the image by digest, like "
            f"ghcr.io/owner/repo/{MODEL_NAME}@sha256:<64 hex>; got {image!r}"
        )
    return image


def check_stage(stage: str) -> str:
    if stage not in STAGES:
        raise ReleaseError(f"unknown stage {stage!r}: the stages are {', '.join(STAGES)}")
    return stage


@dataclass(frozen=True)
class ModelState:
    """What the version rule compares, as committed at one revision."""

    md5: str
    features: tuple[str, ...]
    train_start: str
    train_end: str
    data_md5: str | None = None

    @property
    def window(self) -> str:
        return f"{self.train_start}..{self.train_end}"


@dataclass(frozen=True)
class Registration:
    """A version tag (`flight-delay@vX.Y.Z`) from GTO's history."""

    version: str
    commit: str
    tag: str
    message: str = ""

    def record(self) -> ReleaseRecord | None:
        """The tag message's record; None for a tag made by hand without one."""
        try:
            return ReleaseRecord.parse(self.message)
        except ReleaseError:
            return None


@dataclass(frozen=True)
class Assignment:
    """A stage tag (`flight-delay#<stage>#<counter>`) from GTO's history."""

    stage: str
    version: str
    counter: int
    tag: str


def bump_for(previous: ModelState, current: ModelState) -> tuple[Bump, str]:
    """The part to bump from `previous` to `current`, and why in a few words."""
    if set(previous.features) != set(current.features):
        added = sorted(set(current.features) - set(previous.features))
        removed = sorted(set(previous.features) - set(current.features))
        changes = [f"+{name}" for name in added] + [f"-{name}" for name in removed]
        return "major", f"feature list changed ({', '.join(changes)})"
    if previous.window != current.window:
        return "minor", f"training window {previous.window} -> {current.window}"
    if previous.data_md5 != current.data_md5:
        return "minor", "training data changed"
    return "patch", "model retrained (hyperparameters or code)"


def latest_registration(registrations: Sequence[Registration]) -> Registration | None:
    """The highest registered version."""
    return max(registrations, key=lambda r: parse_version(r.version), default=None)


@dataclass(frozen=True)
class RegisterDecision:
    action: Literal["register", "noop"]
    version: str
    reason: str
    bump: Bump | None = None
    # True when `version` is this very commit's tag (a re-run): --push pushes it again.
    at_commit: bool = False

    def line(self) -> str:
        if self.action == "register":
            return f"{MODEL_NAME} {self.version}: new version ({self.bump}: {self.reason})"
        return f"{MODEL_NAME}: no new version ({self.reason})"


def decide_register(
    commit: str,
    current: ModelState,
    registrations: Sequence[Registration],
    latest_state: ModelState | None,
) -> RegisterDecision:
    """Whether `commit` (with model `current`) gets a version, and which.

    `latest_state` is the model state at the latest registered version's commit (None when
    nothing is registered yet)."""
    for registration in registrations:
        if registration.commit == commit:
            return RegisterDecision(
                "noop",
                registration.version,
                f"commit {commit[:12]} is already {registration.version}",
                at_commit=True,
            )
    latest = latest_registration(registrations)
    if latest is None:
        return RegisterDecision("register", FIRST_VERSION, "first version", "first")
    if latest_state is None:
        raise ReleaseError(f"the state of {latest.version} is needed to choose the next version")
    if latest_state.md5 == current.md5:
        return RegisterDecision(
            "noop",
            latest.version,
            f"model unchanged since {latest.version} (md5 {current.md5[:12]})",
        )
    part, reason = bump_for(latest_state, current)
    return RegisterDecision("register", bump_version(latest.version, part), reason, part)


# The metrics a version tag records, as `Evaluation` names them (section.field).
HEADLINE_KEYS = (
    "model.roc_auc",
    "model.roc_auc_low",
    "model.roc_auc_high",
    "model.pr_auc",
    "model.brier",
    "model.log_loss",
    "model.f1",
    "model.threshold",
    "lift.roc_auc",
)


def headline_metrics(evaluation: Evaluation) -> dict[str, float]:
    flat = {
        f"{section}.{key}": value
        for section, values in evaluation.to_json().items()
        for key, value in values.items()
    }
    return {key: float(flat[key]) for key in HEADLINE_KEYS}


@dataclass(frozen=True)
class ReleaseRecord:
    """What a version tag's message records: enough to redeploy exactly that model.

    Text format: a human first line, a blank line, then `RECORD_MARKER` and the record as
    JSON. No line starts with `#`, which `git tag` would strip as a comment."""

    artifact: str
    version: str
    commit: str
    image: str
    model_md5: str
    train_start: str
    train_end: str
    metrics: Mapping[str, float] = field(default_factory=dict)
    change: str = ""

    def first_line(self) -> str:
        m = self.metrics
        scores = ", ".join(
            f"{label} {m[key]:.{digits}f}"
            for label, key, digits in (
                ("ROC AUC", "model.roc_auc", 3),
                ("PR AUC", "model.pr_auc", 3),
                ("Brier", "model.brier", 4),
            )
            if key in m
        )
        return (
            f"{self.artifact} {self.version}: {scores or 'no metrics'}; "
            f"window {self.train_start}..{self.train_end}; model md5 {self.model_md5[:12]}"
        )

    def to_message(self) -> str:
        payload = asdict(self)
        payload["metrics"] = dict(self.metrics)
        body = json.dumps(payload, indent=2)
        return f"{self.first_line()}\n\n{RECORD_MARKER}\n{body}\n"

    @classmethod
    def parse(cls, message: str) -> Self:
        _, marker, body = message.partition(RECORD_MARKER)
        if not marker:
            raise ReleaseError(f"the tag message has no {RECORD_MARKER!r} block")
        try:
            payload: Any = json.loads(body)
        except json.JSONDecodeError as exc:
            raise ReleaseError(f"the tag message's record is not JSON: {exc}") from None
        names = {f for f in cls.__dataclass_fields__}
        if not isinstance(payload, dict) or not names <= set(payload):
            got = set(payload) if isinstance(payload, dict) else set()
            raise ReleaseError(f"the tag message's record lacks {sorted(names - got)}")
        metrics = payload["metrics"]
        if not isinstance(metrics, dict):
            raise ReleaseError("the tag message's record has no metrics mapping")
        values = {name: payload[name] for name in names}
        values["metrics"] = {str(k): float(v) for k, v in metrics.items()}
        return cls(**values)


def stage_history(assignments: Sequence[Assignment], stage: str) -> list[Assignment]:
    """The stage's assignments, oldest first (by GTO's counter)."""
    return sorted((a for a in assignments if a.stage == stage), key=lambda a: a.counter)


def current_version(assignments: Sequence[Assignment], stage: str) -> str | None:
    history = stage_history(assignments, stage)
    return history[-1].version if history else None


def stages_of(assignments: Sequence[Assignment], version: str) -> list[str]:
    """The stages `version` currently holds, in `STAGES` order."""
    return [s for s in STAGES if current_version(assignments, s) == version]


@dataclass(frozen=True)
class AssignDecision:
    action: Literal["assign", "noop"]
    stage: str
    version: str
    force: bool
    reason: str

    def line(self) -> str:
        if self.action == "noop":
            return f"{MODEL_NAME} {self.version}: already in {self.stage}, no new tag"
        return f"{MODEL_NAME} {self.version} -> {self.stage} ({self.reason})"


def decide_assign(
    stage: str,
    version: str,
    registrations: Sequence[Registration],
    assignments: Sequence[Assignment],
) -> AssignDecision:
    check_stage(stage)
    if version not in {r.version for r in registrations}:
        raise ReleaseError(f"{MODEL_NAME} {version} is not registered")
    history = stage_history(assignments, stage)
    current = history[-1].version if history else None
    if current == version:
        return AssignDecision("noop", stage, version, False, f"already in {stage}")
    held_before = any(a.version == version for a in history)
    if held_before:
        reason = f"rollback from {current}"
    elif current is None:
        reason = f"first version in {stage}"
    else:
        reason = f"replaces {current}"
    return AssignDecision("assign", stage, version, held_before, reason)


def rollback_target(
    history: Sequence[Assignment], registered: Sequence[str], version: str | None = None
) -> str:
    """The version to roll a stage back to: `version` if given (it must be registered),
    otherwise the version that held the stage before the current one.

    `history` is the stage's assignments in any order; they are read in counter order."""
    if version is not None:
        parse_version(version)
        if version not in registered:
            raise ReleaseError(f"{MODEL_NAME} {version} is not registered")
        return version
    ordered = sorted(history, key=lambda a: a.counter)
    if not ordered:
        raise ReleaseError("no version has been assigned to this stage yet")
    current = ordered[-1].version
    for assignment in reversed(ordered):
        if assignment.version != current:
            return assignment.version
    raise ReleaseError(f"{current} is the only version this stage has had: nothing to roll back to")


def release_table(registrations: Sequence[Registration], assignments: Sequence[Assignment]) -> str:
    """Every version, newest first: its stages, commit, headline metrics and image."""
    header = ("version", "stages", "commit", "ROC AUC", "PR AUC", "Brier", "image")
    rows = [header]
    for reg in sorted(registrations, key=lambda r: parse_version(r.version), reverse=True):
        record = reg.record()
        m = record.metrics if record else {}

        def number(key: str, digits: int, m: Mapping[str, float] = m) -> str:
            return f"{m[key]:.{digits}f}" if key in m else "-"

        rows.append(
            (
                reg.version,
                ",".join(stages_of(assignments, reg.version)) or "-",
                reg.commit[:12],
                number("model.roc_auc", 3),
                number("model.pr_auc", 3),
                number("model.brier", 4),
                record.image if record else "-",
            )
        )
    if len(rows) == 1:
        return f"{MODEL_NAME}: no version registered yet"
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True))
        + "  "
        + row[-1]
        for row in rows
    )
