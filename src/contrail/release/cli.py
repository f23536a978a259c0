"""`contrail release ...` and `contrail releases`: the release record as GTO git tags, and
putting a version on a stage's cluster.

`push-image` pushes the service image and records it by the digest the registry stored;
`register` runs on a merge to main, after the image is pushed (it records the image by
digest); `assign` runs after a stage's smoke test passed; `rollback-target` tells the deploy
workflow what to redeploy. Each prints one line (`push-image` after the engine's own output);
bad input exits 1, a git/GTO or container engine failure 2. The version rule is in `contrail.release.decide`.

`deploy`, `deploy-kind`, `smoke-stage`, `canary`, `canary-delete`, `rollback`, `smoke-image`,
`choose-cluster` and `no-cluster` are the steps of the deploy workflows (`make` targets of the
same names; see `contrail.release.rollout`). Their settings come from the environment
variables the workflows set (STAGE, IMAGE, ...), or from the options. A refused version (rollout
undone, smoke test or canary failed) or missing setting exits 1; kubectl, kind or the
container engine failing, 2.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import typer

from contrail.errors import unexpected

if TYPE_CHECKING:
    from contrail.release.deploy import DeployTarget
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

REPO = Path(".")
PushOption = typer.Option(False, "--push", help="Push the tag to origin.")
GithubOutputOption = typer.Option(
    None,
    "--github-output",
    help="Also append key=value lines to this file (a workflow's $GITHUB_OUTPUT).",
)
StageOption = typer.Option(..., "--stage", help="staging or production.")

T = TypeVar("T")


def _write_outputs(path: Path | None, values: dict[str, str]) -> None:
    from contrail.release.deploy import github_output

    if path is not None:
        with path.open("a", encoding="utf-8") as out:
            out.write(github_output(values))


def _guard(name: str, step: Callable[[], T]) -> T:
    """Run `step`, turning its errors into one line and exit 1 (input, a refused version) or 2
    (git/GTO, the container engine, the cluster)."""
    from contrail.release.decide import ReleaseError
    from contrail.release.rollout import DeployFailed
    from contrail.transports.cluster import ClusterError
    from contrail.transports.containers import ContainerError
    from contrail.transports.git import GitError

    try:
        return step()
    except (ReleaseError, DeployFailed) as exc:
        typer.echo(f"contrail release {name}: {exc}", err=True)
        raise typer.Exit(1) from None
    except (GitError, ContainerError, ClusterError) as exc:
        typer.echo(f"contrail release {name}: {exc}", err=True)
        raise typer.Exit(2) from None
    except Exception as exc:  # a bug or an input no check foresaw: still one line
        typer.echo(unexpected(f"contrail release {name}", exc), err=True)
        raise typer.Exit(2) from None


RefFileOption = typer.Option(..., "--ref-file", help="Write <repo>@sha256:... here.")
BackendOption = typer.Option(
    "docker", "--backend", envvar="CONTAINER_BACKEND", help="docker or podman."
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
    github_output: Path | None = GithubOutputOption,
) -> None:
    """Push IMAGE as REPOSITORY:TAG; print `pushed <repo>@sha256:...` with the digest the
    registry stored, as the push reports it (never `RepoDigests`: see contrail.release.image).
    The reference also goes to --ref-file and, as `image=`, to --github-output. A plain-http
    registry is the engine's own configuration (podman: registries.conf), not a flag here."""

    def step() -> str:
        from contrail.release import publish
        from contrail.transports import containers

        ref = publish.push_image(containers, backend, image, repository, tag)
        ref_file.write_text(f"{ref}\n", encoding="utf-8")
        _write_outputs(github_output, {"image": ref})
        return f"pushed {ref}"

    typer.echo(_guard("push-image", step))


@release_group.command()
def register(
    image_digest: str = typer.Option(
        ..., "--image-digest", help="The served image by digest: <repo>@sha256:<64 hex>."
    ),
    rev: str = typer.Option("HEAD", "--rev", help="Commit to register."),
    push: bool = PushOption,
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the decision, tag nothing."),
    github_output: Path | None = GithubOutputOption,
) -> None:
    """Give the commit's model a new version tag if it changed (see the version rule).
    --github-output gets `version=` only when the commit has a version (new, or a re-run's)."""

    def step() -> str:
        from contrail.release import decide, registry

        image = decide.check_image(image_digest)
        commit = registry.resolve(REPO, rev)
        current = registry.model_state(REPO, commit)
        registrations, _ = registry.history(REPO)
        latest = decide.latest_registration(registrations)
        latest_state = registry.model_state(REPO, latest.commit) if latest else None
        decision = decide.decide_register(commit, current, registrations, latest_state)
        if dry_run:
            return f"{decision.line()} [dry run]"
        if decision.action == "register":
            record = decide.ReleaseRecord(
                artifact=decide.ARTIFACT,
                version=decision.version,
                commit=commit,
                image=image,
                model_md5=current.md5,
                train_start=current.train_start,
                train_end=current.train_end,
                metrics=decide.headline_metrics(registry.evaluation(REPO, commit)),
                change=f"{decision.bump}: {decision.reason}",
            )
            registry.register(REPO, commit, decision.version, record.to_message())
        if push and (decision.action == "register" or decision.at_commit):
            registry.push(REPO, f"{decide.ARTIFACT}@{decision.version}")
        if decision.action == "register" or decision.at_commit:
            _write_outputs(github_output, {"version": decision.version})
        return decision.line()

    typer.echo(_guard("register", step))


@release_group.command()
def assign(
    stage: str = StageOption,
    version: str = typer.Option(..., "--version", help="Registered version, e.g. v1.2.0."),
    push: bool = PushOption,
) -> None:
    """Record that VERSION passed STAGE's smoke test: a new `flight-delay#<stage>#N` tag,
    or nothing if it already holds the stage."""
    typer.echo(_guard("assign", lambda: _assign(stage, version, push)))


def _assign(stage: str, version: str, push: bool) -> str:
    from contrail.release import decide, registry

    registrations, assignments = registry.history(REPO)
    decision = decide.decide_assign(stage, version, registrations, assignments)
    if decision.action == "noop":
        return decision.line()
    found = next(r for r in registrations if r.version == version)
    record = found.record()
    image = f"; image {record.image}" if record else ""
    message = f"{decide.ARTIFACT} {version} -> {stage}: smoke test passed{image}"
    tag = registry.assign(REPO, stage, version, message, force=decision.force)
    if push:
        registry.push(REPO, tag)
    return f"{decision.line()}: {tag}"


@release_group.command("rollback-target")
def rollback_target(
    stage: str = StageOption,
    version: str | None = typer.Option(
        None, "--version", help="Roll back to this version (default: the stage's previous one)."
    ),
    github_output: Path | None = GithubOutputOption,
) -> None:
    """Print the version to roll STAGE back to and its image digest: `<version> <image>`.
    --github-output gets version, image, repository, digest and model_version (what
    `contrail smoke --expect-version` checks)."""

    def step() -> str:
        target = _rollback_target(stage, version)
        _write_outputs(github_output, target.outputs())
        return f"{target.version} {target.image}"

    typer.echo(_guard("rollback-target", step))


def _rollback_target(stage: str, version: str | None) -> DeployTarget:
    from contrail.release import decide, deploy, registry

    decide.check_stage(stage)
    registrations, assignments = registry.history(REPO)
    history = decide.stage_history(assignments, stage)
    target = decide.rollback_target(history, [r.version for r in registrations], version)
    record = next(r for r in registrations if r.version == target).record()
    if record is None:
        raise decide.ReleaseError(f"the tag of {target} records no image digest")
    return deploy.deploy_target(target, record.image, record.model_md5)


@release_group.command("stage-tag")
def stage_tag(
    tag: str = typer.Argument(..., help="A stage tag, e.g. flight-delay#production#7."),
    github_output: Path | None = GithubOutputOption,
) -> None:
    """Print `<stage> <version>` of a stage assignment tag (read by `gto check-ref`); anything
    else exits 1. A tag-triggered deploy passes the tag name here through the environment."""

    def step() -> str:
        from contrail.release import deploy
        from contrail.transports import git

        # GTO parses the name (this artifact, a stage from .gto, an existing annotated tag).
        parsed = deploy.parse_stage_tag(git.gto(REPO, "check-ref", tag, "--json"), tag)
        _write_outputs(github_output, {"stage": parsed.stage, "version": parsed.version})
        return f"{parsed.stage} {parsed.version}"

    typer.echo(_guard("stage-tag", step))


BeforeOption = typer.Option(..., "--before", help="The canary's /metrics at the soak's start.")
AfterOption = typer.Option(..., "--after", help="The canary's /metrics now.")


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

    def step() -> tuple[bool, str]:
        from contrail.release import decide, deploy

        try:
            texts = before.read_text(encoding="utf-8"), after.read_text(encoding="utf-8")
        except OSError as exc:
            raise decide.ReleaseError(f"cannot read a scrape: {exc}") from None
        policy = deploy.SoakPolicy(max_error_rate, p95_budget_ms / 1000, min_requests)
        verdict = deploy.soak_verdict(*texts, policy)
        return verdict.ok, verdict.line()

    ok, line = _guard("canary-verdict", step)
    typer.echo(line)
    if not ok:
        raise typer.Exit(1)


def _list() -> None:
    def step() -> str:
        from contrail.release import decide, registry

        registrations, assignments = registry.history(REPO)
        return decide.release_table(registrations, assignments)

    typer.echo(_guard("list", step))


release_group.command("list", help="Every version: stages, commit, headline metrics, image.")(_list)
release_app.command("releases", help="Same as `contrail release list`.")(_list)


# ------------------------------------------------------------------------------------------------
# Putting a version on a stage's cluster (the deploy workflows' `make` targets of the same names).
# ------------------------------------------------------------------------------------------------
StageEnvOption = typer.Option(None, "--stage", envvar="STAGE", help="staging or production.")
ImageEnvOption = typer.Option(
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
KindClusterOption = typer.Option(
    "contrail", "--kind-cluster", envvar="KIND_CLUSTER", help="The kind cluster's name."
)


def _need(value: str | None, variable: str) -> str:
    """A setting the command cannot do without (e.g. STAGE), or a one-line error naming it."""
    from contrail.release.decide import ReleaseError

    if not value:
        raise ReleaseError(f"set {variable}")
    return value


def _rollout_settings(
    port: int, timeout: str, soak_seconds: int, soak_interval: int
) -> RolloutSettings:
    from contrail.release.rollout import RolloutSettings

    return RolloutSettings(port, timeout, soak_seconds, soak_interval)


@release_group.command()
def deploy(
    stage: str | None = StageEnvOption,
    image: str | None = ImageEnvOption,
    timeout: str = RolloutTimeoutOption,
) -> None:
    """Apply STAGE's overlay with IMAGE and wait for the rollout; a failed rollout is undone
    (`kubectl rollout undo`) and exits 1."""

    def step() -> str:
        from contrail.release import rollout
        from contrail.transports import cluster

        rollout.deploy(cluster, _need(stage, "STAGE"), _need(image, "IMAGE"), timeout)
        return f"deployed {image} to {stage}"

    typer.echo(_guard("deploy", step))


@release_group.command("deploy-kind")
def deploy_kind(
    image: str | None = ImageEnvOption,
    backend: str = BackendOption,
    kind_cluster: str = KindClusterOption,
    timeout: str = RolloutTimeoutOption,
) -> None:
    """Staging on the local kind cluster: pull IMAGE by digest, `kind load` it under a local
    tag, apply the staging overlay pointing at that tag, wait for the rollout."""

    def step() -> str:
        from contrail.release import image as images
        from contrail.release import rollout
        from contrail.transports import cluster, containers

        engine = images.check_backend(backend)
        wanted = _need(image, "IMAGE")
        rollout.deploy_kind(cluster, containers, engine, wanted, kind_cluster, timeout)
        return f"deployed {wanted} to kind cluster {kind_cluster}"

    typer.echo(_guard("deploy-kind", step))


@release_group.command("smoke-stage")
def smoke_stage(
    stage: str | None = StageEnvOption,
    port: int = SmokePortOption,
    expect_version: str | None = ExpectVersionOption,
) -> None:
    """Smoke-test STAGE's Service through a port-forward on 127.0.0.1:SMOKE_PORT."""

    def step() -> str:
        from contrail.release import probe, rollout
        from contrail.transports import cluster

        chosen = _need(stage, "STAGE")
        rollout.smoke_stage(cluster, probe.smoke, chosen, port, expect_version)
        return f"{chosen}'s Service passed its smoke test"

    typer.echo(_guard("smoke-stage", step))


@release_group.command()
def canary(
    image: str | None = ImageEnvOption,
    expect_version: str | None = ExpectVersionOption,
    port: int = SmokePortOption,
    timeout: str = RolloutTimeoutOption,
    soak_seconds: int = SoakSecondsOption,
    soak_interval: int = SoakIntervalOption,
) -> None:
    """Production canary of IMAGE (one pod, `track: canary`): smoke it, then judge its
    /metrics every SOAK_INTERVAL for SOAK_SECONDS (`canary-verdict`). Deleted on any failure;
    stable is never touched."""

    def step() -> str:
        from contrail.release import probe, rollout
        from contrail.transports import cluster

        settings = _rollout_settings(port, timeout, soak_seconds, soak_interval)
        wanted = _need(image, "IMAGE")
        rollout.canary(cluster, probe.smoke, probe.scrape, wanted, expect_version, settings)
        return f"the canary of {wanted} passed its soak"

    typer.echo(_guard("canary", step))


@release_group.command("canary-delete")
def canary_delete() -> None:
    """Delete the production canary (nothing to delete is no error); stable is untouched."""

    def step() -> str:
        from contrail.release import rollout
        from contrail.transports import cluster

        rollout.delete_canary(cluster)
        return "no production canary"

    typer.echo(_guard("canary-delete", step))


@release_group.command()
def rollback(
    stage: str | None = StageEnvOption,
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

    def step() -> str:
        from contrail.release import probe, rollout
        from contrail.transports import cluster

        chosen = _need(stage, "STAGE")
        target = _rollback_target(chosen, version)
        typer.echo(f"{target.version} {target.image}")
        if not os.environ.get("KUBECONFIG"):
            return "KUBECONFIG is not set: nothing deployed"
        settings = _rollout_settings(port, timeout, soak_seconds, soak_interval)
        rollout.redeploy(cluster, probe.smoke, probe.scrape, chosen, target, settings)
        return _assign(chosen, target.version, push=True)

    typer.echo(_guard("rollback", step))


@release_group.command("smoke-image")
def smoke_image(
    image: str | None = typer.Option(
        None, "--image", envvar="LOCAL_IMAGE", help="The local image to run."
    ),
    backend: str = BackendOption,
    port: int = SmokePortOption,
) -> None:
    """Run the image on 127.0.0.1:SMOKE_PORT, smoke-test it and stop it (nothing is pushed)."""

    def step() -> str:
        from contrail.release import probe, publish
        from contrail.transports import containers

        wanted = _need(image, "LOCAL_IMAGE")
        publish.smoke_image(containers, probe.smoke, backend, wanted, port)
        return f"{wanted} passed its smoke test"

    typer.echo(_guard("smoke-image", step))


GithubEnvOption = typer.Option(
    None, "--github-env", help="A workflow's $GITHUB_ENV: gets KUBECONFIG=<file>."
)
StepSummaryOption = typer.Option(
    None, "--step-summary", envvar="GITHUB_STEP_SUMMARY", help="A workflow's job summary."
)


@release_group.command("choose-cluster")
def choose_cluster(
    stage: str | None = StageEnvOption,
    github_output: Path | None = GithubOutputOption,
    github_env: Path | None = GithubEnvOption,
) -> None:
    """Where deploy.yml deploys STAGE, as `mode=` to --github-output: `cluster` when the
    environment variable KUBECONFIG_CONTENT holds a kubeconfig (written to a private file under
    RUNNER_TEMP, named to later steps through --github-env; never printed), `kind` for staging
    without one, else `none`."""

    def step() -> str:
        from contrail.release import rollout

        content = os.environ.get("KUBECONFIG_CONTENT", "")
        if content:
            folder = Path(os.environ.get("RUNNER_TEMP") or "/tmp")
            kubeconfig = rollout.write_kubeconfig(folder, content)
            _write_outputs(github_env, {"KUBECONFIG": str(kubeconfig)})
        mode = rollout.cluster_mode(bool(content), stage)
        _write_outputs(github_output, {"mode": mode})
        return f"deploy target for {stage or '?'}: {mode}"

    typer.echo(_guard("choose-cluster", step))


@release_group.command("no-cluster")
def no_cluster(
    stage: str | None = StageEnvOption,
    version: str | None = typer.Option(None, "--version", envvar="VERSION"),
    step_summary: Path | None = StepSummaryOption,
) -> None:
    """Fail loudly (a workflow error and the job summary): STAGE has no cluster to deploy to."""
    from contrail.release import rollout

    error, summary = rollout.no_cluster(stage, version)
    typer.echo(error)
    if step_summary is not None:
        with step_summary.open("a", encoding="utf-8") as out:
            out.write(summary)
    raise typer.Exit(1)
