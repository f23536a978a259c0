"""Reading the base revision and the workspace: git for committed report files, DVC for the
metric/params/plot diffs and for the base model, so nothing is re-implemented.

Every metrics and report JSON is committed (`cache: false`), so any revision can be read with
`git show`. Only the base model itself is DVC-cached (`base_model` obtains it): the gate judges
both models on the workspace's test rows, never two metrics files from different test months.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from contrail import paths
from contrail.metrics import Evaluation, MetricsFormatError
from contrail.params import DEFAULT_PARAMS_PATH, Params
from contrail.report import compare
from contrail.transports import git
from contrail.transports.git import GitError

# Plot names from the top-level `plots:` of dvc.yaml: the comment draws the first four as
# Mermaid charts and the confusion matrix as a table; the interactive HTML has all five.
PLOT_NAMES = (
    "ROC",
    "Precision-Recall",
    "Calibration",
    "Permutation importance",
    "Confusion matrix",
)
HTML_PLOT_NAMES = PLOT_NAMES


class ReportError(RuntimeError):
    """The comparison cannot be made (unknown revision, DVC failure); the message says why."""


# Every revision is read in the repository the command runs in.
REPO = Path(".")


def resolve(base: str) -> str:
    """Commit SHA of `base`; a branch name also matches its `origin/` copy, which is all a
    CI checkout of a pull request has."""
    for candidate in (base, f"origin/{base}"):
        found = git.commit_of(REPO, candidate)
        if found is not None:
            return found
    raise ReportError(
        f"unknown base revision {base!r} (in CI, check out with `fetch-depth: 0` "
        "so the base branch is present)"
    )


def git_text(sha: str, path: Path) -> str | None:
    """A committed file's text at `sha`, or None if it did not exist there."""
    return git.show(REPO, sha, path.as_posix())


def git_json(sha: str, path: Path) -> dict[str, Any] | None:
    text = git_text(sha, path)
    content: dict[str, Any] | None = json.loads(text) if text is not None else None
    return content


def workspace_json(path: Path) -> dict[str, Any] | None:
    content: dict[str, Any] | None = json.loads(path.read_text()) if path.exists() else None
    return content


def dvc_json(*args: str) -> dict[str, Any]:
    """Run a `dvc ... --json` command of the same environment and parse what it prints."""
    try:
        printed = git.dvc(REPO, *args, "--json")
    except GitError as exc:
        raise ReportError(f"`dvc {' '.join(args)}` failed: {exc.output}") from None
    shown: dict[str, Any] = json.loads(printed or "{}")
    return shown


def plot_data(sha: str) -> dict[str, list[dict[str, Any]]]:
    """Data points of each plot at both revisions, every row tagged with `rev` (`sha` or
    "workspace"): the numbers the comment's charts and confusion table are drawn from."""
    shown = dvc_json("plots", "diff", sha, "--targets", *PLOT_NAMES)
    return {
        name: [row for plot in plots for row in plot["content"]["data"]["values"]]
        for name, plots in shown.get("data", {}).items()
    }


def write_interactive_plots(sha: str, out_dir: Path) -> None:
    """`dvc plots diff` as HTML (zoomable Vega charts), for the workflow's artifact."""
    try:
        git.dvc(REPO, "plots", "diff", sha, "-o", str(out_dir), "--targets", *HTML_PLOT_NAMES)
    except GitError as exc:
        raise ReportError(f"`dvc plots diff {sha} -o {out_dir}` failed: {exc.output}") from None


def same_rows(sha: str, params: Params, samples: int, base_has_metrics: bool) -> compare.SameRows:
    """Both models scored on the workspace's test rows (the PR's test month), with paired
    intervals; or why that is impossible, for the gate and the report to say."""
    from contrail.features import LABEL
    from contrail.io import read_parquet
    from contrail.metrics import score
    from contrail.model import TrainedModel
    from contrail.model_card import IncompatibleModel
    from contrail.report import base_model

    try:
        entry = base_model.recorded(sha)
        if entry is None:
            if base_has_metrics:
                raise base_model.Unavailable(
                    f"it has a metrics file but its {base_model.LOCK_FILE} records no "
                    f"{base_model.MODEL_FILE}"
                )
            return compare.SameRows("first model")
        card = base_model.card(sha)
        card.require_same_sklearn("the base model")
        found = base_model.obtain(sha, entry, card)
    except base_model.Unavailable as exc:
        return compare.SameRows("unavailable", reason=str(exc))
    except IncompatibleModel as exc:
        return compare.SameRows("not comparable", reason=str(exc))
    try:
        pr_model = TrainedModel.load(paths.MODEL_DIR)
        test = read_parquet(paths.TEST)
    except (FileNotFoundError, IncompatibleModel) as exc:
        raise ReportError(f"the workspace's model or test rows: {exc} (run `dvc repro`)") from None
    missing = sorted(set(found.model.card.features) - set(test.columns))
    if missing:
        return compare.SameRows(
            "not comparable",
            reason=f"it uses feature(s) this PR no longer builds: {', '.join(missing)}",
            source=found.source,
        )
    y = test[LABEL].to_numpy(dtype=int)
    p_base, p_pr = found.model.predict_proba(test), pr_model.predict_proba(test)
    return compare.SameRows(
        "paired",
        source=found.source,
        rows=len(y),
        base=score(y, p_base, found.model.card.threshold),
        pr=score(y, p_pr, pr_model.card.threshold),
        intervals=compare.paired_bootstrap(
            y, p_base, p_pr, samples, params.evaluate.confidence, params.seed
        ),
    )


def evaluations(sha: str, base: str) -> tuple[Evaluation, Evaluation | None, str]:
    """The workspace's and the base's metrics files, read through their one definition.

    The workspace's must match it: a renamed or missing metric is a `ReportError` naming
    the keys, not a row of "n/a". The base may have no file (a first model) or one in an
    older format (this PR changed it); the third value then says which keys differ."""
    if not paths.METRICS.exists():
        raise ReportError(f"{paths.METRICS} not found: run `dvc repro` first")
    source = f"{paths.METRICS} in the workspace"
    try:
        pr = Evaluation.from_json(json.loads(paths.METRICS.read_text()), source)
    except json.JSONDecodeError as exc:
        raise ReportError(f"{source} is not JSON ({exc}): run `dvc repro`") from None
    except MetricsFormatError as exc:
        raise ReportError(f"{exc} (rerun `dvc repro`)") from None
    text = git_text(sha, paths.METRICS)
    if text is None:
        return pr, None, ""
    source = f"{paths.METRICS} at `{base}`"
    try:
        return pr, Evaluation.from_json(json.loads(text), source), ""
    except json.JSONDecodeError as exc:
        return pr, None, f"{source} is not JSON ({exc})"
    except MetricsFormatError as exc:
        return pr, None, str(exc)


def _repo_relative(path: Path) -> Path:
    """`path` relative to the working directory (the repository root), as `git show` and
    `dvc params diff` name files."""
    return (
        Path(os.path.relpath(path.resolve(), Path.cwd().resolve())) if path.is_absolute() else path
    )


def collect(
    base: str,
    params: Params,
    bootstrap_samples: int,
    params_path: Path = DEFAULT_PARAMS_PATH,
) -> compare.Comparison:
    """Everything that differs between `base` and the workspace.

    `params_path` is the parameters file `params` was read from (`--params`): the data window
    is read from it at both revisions. `bootstrap_samples=0` skips the paired intervals (the
    gate needs point deltas only)."""
    sha = resolve(base)
    pr_evaluation, base_evaluation, base_error = evaluations(sha, base)
    params_path = _repo_relative(params_path)
    metrics = dvc_json("metrics", "diff", sha, "--all")
    changed_params = dvc_json("params", "diff", sha)
    workspace_params = yaml.safe_load(params_path.read_text())
    base_params_text = git_text(sha, params_path)

    params_rows = []
    for file, diff in changed_params.items():
        prefix = "" if Path(file) == params_path else f"{file}:"
        rows = compare.changes_from_dvc(diff, list(compare.flatten(workspace_params)))
        params_rows += [compare.Change(prefix + r.name, r.base, r.pr) for r in rows]

    drift, drift_dataset = compare.drift_rows(metrics.get(str(paths.DRIFT_JSON), {}))
    base_has_metrics = base_evaluation is not None or bool(base_error)
    return compare.Comparison(
        base_label=base,
        base_sha=sha,
        metrics=compare.changes_from_dvc(
            metrics.get(str(paths.METRICS), {}), list(compare.flatten(pr_evaluation.to_json()))
        ),
        params=params_rows,
        drift=drift,
        drift_dataset=drift_dataset,
        facts=compare.run_facts(
            (yaml.safe_load(base_params_text) if base_params_text else None, workspace_params),
            (git_json(sha, paths.FEATURE_STATS), workspace_json(paths.FEATURE_STATS)),
        ),
        validation=compare.Change(
            "validation",
            git_json(sha, paths.VALIDATION_JSON),
            workspace_json(paths.VALIDATION_JSON),
        ),
        pr_evaluation=pr_evaluation,
        same_rows=same_rows(sha, params, bootstrap_samples, base_has_metrics),
        base_evaluation=base_evaluation,
        base_metrics_error=base_error,
        confidence=params.evaluate.confidence,
    )


def run_url(env: dict[str, Any]) -> str | None:
    """This GitHub Actions run's page (where its artifacts are), from the runner's env."""
    keys = ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    if not all(env.get(k) for k in keys):
        return None
    server, repository, run_id = (env[k] for k in keys)
    return f"{server}/{repository}/actions/runs/{run_id}"
