"""`contrail release ...` and `contrail releases`: the release record as GTO git tags, and
putting a version on a stage's cluster (`contrail.release.commands`).

`push-image` pushes the service image and records it by the digest the registry stored;
`register` runs on a merge to main, after the image is pushed (it records the image by
digest); `assign` runs after a stage's smoke test passed; `rollback-target` tells the deploy
workflow what to redeploy. Each prints one line (`push-image` after the engine's own output).
The version rule is in `contrail.release.versions`.

`deploy`, `deploy-kind`, `smoke-stage`, `canary`, `canary-delete`, `rollback`, `smoke-image`,
`choose-cluster` and `no-cluster` are the steps of the deploy workflows (`make` targets of the
same names; see `contrail.release.rollout`). Their settings come from the environment
variables the workflows set (STAGE, IMAGE, ...), or from the options. A refused version (rollout
undone, smoke test or canary failed) or missing setting exits 1; git/GTO, kubectl, kind or the
container engine failing, 2.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import typer

from contrail.cli.common import (
    ExitCode,
    GitHubOutputOption,
    PushOption,
    StageFromEnvOption,
    StageOption,
    guard,
)

if TYPE_CHECKING:
    from contrail.release.rollout import RolloutSettings

# Added without a name, so the `release` group and the `releases` alias are both top-level.
release_app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
release_group = typer.Typer(
    name="release",
    help="Model versions and stage assignments as GTO git tags.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
release_app.add_typer(release_group)

T = TypeVar("T")


def _run(name: str, body: Callable[[], T]) -> T:
    return guard(f"release {name}", body, prefix=f"contrail release {name}")


BackendOption = typer.Option(
    "docker", "--backend", envvar="CONTAINER_BACKEND", help="docker or podman."
)
RefFileOption = typer.Option(..., "--ref-file", help="Write <repo>@sha256:... here.")
BeforeOption = typer.Option(..., "--before", help="The canary's /metrics at the soak's start.")
AfterOption = typer.Option(..., "--after", help="The canary's /metrics now.")
GitHubEnvOption = typer.Option(
    None, "--github-env", help="A workflow's $GITHUB_ENV: gets KUBECONFIG=<file>."
)
StepSummaryOption = typer.Option(
    None, "--step-summary", envvar="GITHUB_STEP_SUMMARY", help="A workflow's job summary."
)


@release_group.command("push-image")
def push_image(
    image: str = typer.Option(..., "--image", help="The local image to push (LOCAL_IMAGE)."),
    repository: str = typer.Option(
        ..., "--repository", help="e.g. ghcr.io/owner/repo/flight-delay; lowercased."
    ),
    tag: str = typer.Option(..., "--tag", help="The tag to push it under (release.yml: commit)."),
    backend: str = BackendOption,
    ref_file: Path = RefFileOption,
    github_output: Path | None = GitHubOutputOption,
) -> None:
    """Push IMAGE as REPOSITORY:TAG; print `pushed <repo>@sha256:...` with the digest the
    registry stored, as the push reports it (never `RepoDigests`: see contrail.release.image).
    The reference also goes to --ref-file and, as `image=`, to --github-output. A plain-http
    registry is the engine's own configuration (podman: registries.conf), not a flag here."""
    from contrail.release import commands

    push = partial(commands.push_image, backend, image, repository, tag, ref_file, github_output)
    typer.echo(_run("push-image", push))


@release_group.command()
def register(
    image_digest: str = typer.Option(
        ..., "--image-digest", help="The served image by digest: <repo>@sha256:<64 hex>."
    ),
    rev: str = typer.Option("HEAD", "--rev", help="Commit to register."),
    push: bool = PushOption,
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the decision, tag nothing."),
    github_output: Path | None = GitHubOutputOption,
) -> None:
    """Give the commit's model a new version tag if it changed (see the version rule).
    --github-output gets `version=` only when the commit has a version (new, or a re-run's)."""
    from contrail.release import commands

    register = partial(commands.register, image_digest, rev, push, dry_run, github_output)
    typer.echo(_run("register", register))


@release_group.command()
def assign(
    stage: str = StageOption,
    version: str = typer.Option(..., "--version", help="Registered version, e.g. v1.2.0."),
    push: bool = PushOption,
) -> None:
    """Record that VERSION passed STAGE's smoke test: a new `flight-delay#<stage>#N` tag,
    or nothing if it already holds the stage."""
    from contrail.release import commands

    typer.echo(_run("assign", lambda: commands.assign(stage, version, push)))


@release_group.command("rollback-target")
def rollback_target(
    stage: str = StageOption,
    version: str | None = typer.Option(
        None, "--version", help="Roll back to this version (default: the stage's previous one)."
    ),
    github_output: Path | None = GitHubOutputOption,
) -> None:
    """Print the version to roll STAGE back to and its image digest: `<version> <image>`.
    --github-output gets version, image, repository, digest and model_version (what
    `contrail smoke --expect-version` checks)."""
    from contrail.release import commands

    target = partial(commands.print_rollback_target, stage, version, github_output)
    typer.echo(_run("rollback-target", target))


@release_group.command("stage-tag")
def stage_tag(
    tag: str = typer.Argument(..., help="A stage tag, e.g. flight-delay#production#7."),
    github_output: Path | None = GitHubOutputOption,
) -> None:
    """Print `<stage> <version>` of a stage assignment tag (read by `gto check-ref`); anything
    else exits 1. A tag-triggered deploy passes the tag name here through the environment."""
    from contrail.release import commands

    typer.echo(_run("stage-tag", lambda: commands.stage_tag(tag, github_output)))


@release_group.command("canary-verdict")
def canary_verdict(
    before: Path = BeforeOption,
    after: Path = AfterOption,
    max_error_rate: float = typer.Option(
        0.01, min=0, max=1, help="Highest share of 5xx responses."
    ),
    p95_budget_ms: float = typer.Option(250.0, min=0, help="Budget for the p95 latency."),
    min_requests: int = typer.Option(
        0, min=0, help="Fail with fewer responses than this (0: no traffic is not a failure)."
    ),
) -> None:
    """Judge a production canary from two /metrics scrapes: 5xx rate and p95 latency of the
    requests served between them, no restart. One line; exit 1 when it must go."""
    from contrail.release import commands

    verdict = _run(
        "canary-verdict",
        lambda: commands.canary_verdict(before, after, max_error_rate, p95_budget_ms, min_requests),
    )
    typer.echo(verdict.line())
    if not verdict.ok:
        raise typer.Exit(ExitCode.FIX)


def list_releases() -> None:
    from contrail.release import commands

    typer.echo(_run("list", commands.release_table))


release_group.command("list", help="Every version: stages, commit, headline metrics, image.")(
    list_releases
)
release_app.command("releases", help="Same as `contrail release list`.")(list_releases)


# ------------------------------------------------------------------------------------------------
# Putting a version on a stage's cluster (the deploy workflows' `make` targets of the same names).
# ------------------------------------------------------------------------------------------------
ImageFromEnvOption = typer.Option(
    None, "--image", envvar="IMAGE", help="The image by digest: <repo>@sha256:<64 hex>."
)
ExpectVersionOption = typer.Option(
    None, "--expect-version", envvar="EXPECT_VERSION", help="The model version it must serve."
)
SmokePortOption = typer.Option(
    3300, "--smoke-port", envvar="SMOKE_PORT", min=1, max=65535,
    help="Local port of the port-forward (or of the local container) the smoke test uses.",
)  # fmt: skip
RolloutTimeoutOption = typer.Option(
    "300s", "--rollout-timeout", envvar="ROLLOUT_TIMEOUT", help="kubectl's rollout wait."
)
SoakSecondsOption = typer.Option(
    300, "--soak-seconds", envvar="SOAK_SECONDS", min=0, help="How long the canary soaks."
)
SoakIntervalOption = typer.Option(
    30, "--soak-interval", envvar="SOAK_INTERVAL", min=1, help="Seconds between its checks."
)


def _settings(port: int, timeout: str, soak_seconds: int, soak_interval: int) -> RolloutSettings:
    from contrail.release.rollout import RolloutSettings

    return RolloutSettings(port, timeout, soak_seconds, soak_interval)


@release_group.command()
def deploy(
    stage: str | None = StageFromEnvOption,
    image: str | None = ImageFromEnvOption,
    timeout: str = RolloutTimeoutOption,
) -> None:
    """Apply STAGE's overlay with IMAGE and wait for the rollout; a failed rollout is undone
    (`kubectl rollout undo`) and exits 1."""
    from contrail.release import commands

    typer.echo(_run("deploy", lambda: commands.deploy(stage, image, timeout)))


@release_group.command("deploy-kind")
def deploy_kind(
    image: str | None = ImageFromEnvOption,
    backend: str = BackendOption,
    kind_cluster: str = typer.Option(
        "contrail", "--kind-cluster", envvar="KIND_CLUSTER", help="The kind cluster's name."
    ),
    timeout: str = RolloutTimeoutOption,
) -> None:
    """Staging on the local kind cluster: pull IMAGE by digest, `kind load` it under a local
    tag, apply the staging overlay pointing at that tag, wait for the rollout."""
    from contrail.release import commands

    deploy = partial(commands.deploy_kind, image, backend, kind_cluster, timeout)
    typer.echo(_run("deploy-kind", deploy))


@release_group.command("smoke-stage")
def smoke_stage(
    stage: str | None = StageFromEnvOption,
    port: int = SmokePortOption,
    expect_version: str | None = ExpectVersionOption,
) -> None:
    """Smoke-test STAGE's Service through a port-forward on 127.0.0.1:SMOKE_PORT."""
    from contrail.release import commands

    typer.echo(_run("smoke-stage", lambda: commands.smoke_stage(stage, port, expect_version)))


@release_group.command()
def canary(
    image: str | None = ImageFromEnvOption,
    expect_version: str | None = ExpectVersionOption,
    port: int = SmokePortOption,
    timeout: str = RolloutTimeoutOption,
    soak_seconds: int = SoakSecondsOption,
    soak_interval: int = SoakIntervalOption,
) -> None:
    """Production canary of IMAGE (one pod, `track: canary`): smoke it, then judge its
    /metrics every SOAK_INTERVAL for SOAK_SECONDS (`canary-verdict`). Deleted on any failure;
    stable is never touched."""
    from contrail.release import commands

    settings = _settings(port, timeout, soak_seconds, soak_interval)
    typer.echo(_run("canary", lambda: commands.canary(image, expect_version, settings)))


@release_group.command("canary-delete")
def canary_delete() -> None:
    """Delete the production canary (nothing to delete is no error); stable is untouched."""
    from contrail.release import commands

    typer.echo(_run("canary-delete", commands.canary_delete))


@release_group.command()
def rollback(
    stage: str | None = StageFromEnvOption,
    version: str | None = typer.Option(
        None, "--version", envvar="VERSION", help="Default: the stage's previous version."
    ),
    port: int = SmokePortOption,
    timeout: str = RolloutTimeoutOption,
    soak_seconds: int = SoakSecondsOption,
    soak_interval: int = SoakIntervalOption,
) -> None:
    """Print what STAGE rolls back to (its previous version, or VERSION); with KUBECONFIG set,
    deploy it as deploy.yml would (production through a canary), smoke-test it and assign
    the stage (the tag is pushed)."""
    from contrail.release import commands

    settings = _settings(port, timeout, soak_seconds, soak_interval)
    typer.echo(_run("rollback", lambda: commands.rollback(stage, version, settings, os.environ)))


@release_group.command("smoke-image")
def smoke_image(
    image: str | None = typer.Option(
        None, "--image", envvar="LOCAL_IMAGE", help="The local image to run."
    ),
    backend: str = BackendOption,
    port: int = SmokePortOption,
) -> None:
    """Run the image on 127.0.0.1:SMOKE_PORT, smoke-test it and stop it (nothing is pushed)."""
    from contrail.release import commands

    typer.echo(_run("smoke-image", lambda: commands.smoke_image(image, backend, port)))


@release_group.command("choose-cluster")
def choose_cluster(
    stage: str | None = StageFromEnvOption,
    github_output: Path | None = GitHubOutputOption,
    github_env: Path | None = GitHubEnvOption,
) -> None:
    """Where deploy.yml deploys STAGE, as `mode=` to --github-output: `cluster` when the
    environment variable KUBECONFIG_CONTENT holds a kubeconfig (written to a private file under
    RUNNER_TEMP, named to later steps through --github-env; never printed), `kind` for staging
    without one, else `none`."""
    from contrail.release import commands

    choose = partial(commands.choose_cluster, stage, github_output, github_env, os.environ)
    typer.echo(_run("choose-cluster", choose))


@release_group.command("no-cluster")
def no_cluster(
    stage: str | None = StageFromEnvOption,
    version: str | None = typer.Option(None, "--version", envvar="VERSION"),
    step_summary: Path | None = StepSummaryOption,
) -> None:
    """Fail loudly (a workflow error and the job summary): STAGE has no cluster to deploy to."""
    from contrail.release import commands

    typer.echo(_run("no-cluster", lambda: commands.no_cluster(stage, version, step_summary)))
    raise typer.Exit(ExitCode.FIX)
