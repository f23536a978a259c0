"""`contrail retrain`: the retraining pull request, prepared locally and published to GitHub.

`prepare` (git only, testable offline): on the branch named for the target window, move the
window in params.yaml (comments kept), run `dvc repro`, commit params.yaml, dvc.lock and every
tracked output. Whether the branch changed is decided by comparing its tree with the
remote's: rerunning on the same data gives the same bytes, so the same tree, so nothing to do.

`publish` (the thin transport): push the branch, open or update its PR with the `retrain`
label, close superseded retraining PRs, and dispatch the PR-report workflow on the branch,
because pushes and PRs made with GITHUB_TOKEN start no workflow.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

from ruamel.yaml import YAML

from contrail import paths
from contrail.identity import MODEL_NAME
from contrail.io import read_json, write_json, write_text
from contrail.metrics import Evaluation
from contrail.monitor import MONITOR_JSON, RETRAIN_BODY, RETRAIN_JSON, pages, pulls
from contrail.monitor import branch as branch_io
from contrail.monitor.policy import Outcome
from contrail.transports import git
from contrail.transports.git import GitError
from contrail.transports.github import GitHub

REPORT_WORKFLOW = "pr-report.yml"


class RetrainError(RuntimeError):
    """The retraining PR cannot be prepared or published; the message says why."""


@dataclass(frozen=True)
class Prepared:
    branch: str
    title: str
    changed: bool
    came_from: str  # the branch (or, detached, the commit) checked out before: the way back


# A scalar as written in YAML: quoted, or plain up to a comment, a comma or a closing brace.
_SCALAR = re.compile(r"""("[^"]*"|'[^']*'|[^\s#,}]+)""")


def move_window(params_file: Path, start: str, end: str) -> None:
    """Set data.start/data.end in place: only those two values change, every other byte of the
    file (comments, quoting, wrapped lists, `null`s) stays, so the PR's diff is the window.

    ruamel.yaml finds where each value is written; dumping its whole document instead would
    rewrap long flow lists and write `null` as nothing."""
    text = params_file.read_text()
    data = YAML().load(text)["data"]
    lines = text.split("\n")
    for key, value in (("start", start), ("end", end)):
        line, column = data.lc.value(key)
        written = _SCALAR.match(lines[line], column)
        if written is None:
            raise RetrainError(f"{params_file}: cannot read data.{key} on line {line + 1}")
        quote = written[1][0] if written[1][0] in "\"'" else ""
        lines[line] = lines[line][:column] + f"{quote}{value}{quote}" + lines[line][written.end() :]
    edited = "\n".join(lines)
    moved = YAML(typ="safe").load(edited)["data"]
    if (str(moved["start"]), str(moved["end"])) != (start, end):
        raise RetrainError(f"{params_file}: could not set data.start/data.end to {start}/{end}")
    params_file.write_text(edited)


def prepare(repo: Path, remote: str = "origin") -> Prepared | None:
    """The retraining commit on its branch, or None when the monitor said "no"."""
    outcome = Outcome.from_json(read_json(repo / MONITOR_JSON))
    decision = outcome.decision
    if not decision.retrain:
        return None
    assert decision.start is not None and decision.end is not None
    # Refreshed import pointers (`make update-imports`) are what the retraining commit carries.
    dirty = [path for path in git.modified(repo) if not path.endswith(".dvc")]
    if dirty:
        raise RetrainError(f"uncommitted changes to {', '.join(dirty)}: commit or stash them")
    branch = pulls.branch_name(MODEL_NAME, decision.end)
    came_from = git.git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip()
    if came_from == "HEAD":  # detached: the commit is the way back
        came_from = git.git(repo, "rev-parse", "HEAD").strip()
    git.git(repo, "checkout", "--quiet", "-B", branch)
    move_window(repo / "params.yaml", decision.start, decision.end)
    try:
        git.dvc(repo, "repro", echo=True)
    except GitError as exc:
        raise RetrainError(
            f"`dvc repro` failed on the window {decision.start}..{decision.end} (exit "
            f"{exc.returncode}): nothing was committed; branch {branch} has the edited params"
        ) from None
    new = Evaluation.from_json(read_json(repo / paths.METRICS), str(paths.METRICS))
    title, body = pages.pull_request(outcome.check, decision, new, MODEL_NAME)
    git.git(repo, "add", "--update")
    git.git(repo, "commit", "--quiet", "-m", title, "-m", decision.line())
    remote_commit = branch_io.fetch(repo, remote, branch)
    changed = remote_commit is None or git.tree_of(repo, remote_commit) != git.tree_of(repo, "HEAD")
    prepared = Prepared(branch, title, changed, came_from)
    write_text(repo / RETRAIN_BODY, body)
    write_json(repo / RETRAIN_JSON, asdict(prepared))
    return prepared


def publish(
    repo: Path, github: GitHub, base: str, remote: str = "origin", dispatch: bool = True
) -> list[str]:
    """Push, open or update the PR, close superseded ones, dispatch the report; what was done."""
    try:
        prepared = Prepared(**read_json(repo / RETRAIN_JSON))
    except TypeError:  # missing or unknown keys: another version's file, or a hand-made one
        raise RetrainError(
            f"{RETRAIN_JSON} is not what `contrail retrain prepare` writes: run it again"
        ) from None
    open_pulls = [
        pulls.Pull(p.number, p.branch, p.url)
        for p in github.open_pulls()
        if pulls.LABEL in p.labels
    ]
    plan = pulls.plan(open_pulls, prepared.branch, MODEL_NAME, prepared.changed)
    if plan.newer is not None:
        return [f"PR #{plan.newer.number} ({plan.newer.branch}) retrains on a newer window: "
                f"nothing to do for {prepared.branch}"]  # fmt: skip
    if plan.noop:
        return [f"{prepared.branch} is unchanged and its PR is open: nothing to do"]
    done = []
    if prepared.changed:
        git.push(repo, remote, f"HEAD:refs/heads/{prepared.branch}", force=True)
        done.append(f"pushed {prepared.branch}")
    body = (repo / RETRAIN_BODY).read_text()
    if plan.update is None:
        created = github.create_pull(
            title=prepared.title, head=prepared.branch, base=base, body=body
        )
        pull = pulls.Pull(created.number, created.branch, created.url)
        github.add_labels(pull.number, [pulls.LABEL])
        done.append(f"opened PR #{pull.number}")
    else:
        pull = plan.update
        github.edit_pull(pull.number, title=prepared.title, body=body)
        done.append(f"updated PR #{pull.number}")
    for old in plan.close:
        github.comment(
            old.number,
            f"Superseded by #{pull.number} ({pull.url}), which retrains on a newer window.",
        )
        github.close_pull(old.number)
        done.append(f"closed PR #{old.number} (superseded)")
    if dispatch and prepared.changed:
        github.dispatch(REPORT_WORKFLOW, prepared.branch, {"base": base})
        done.append(f"dispatched {REPORT_WORKFLOW} on {prepared.branch}")
    return done
