"""`contrail release ...` and `contrail releases`: the release record as GTO git tags.

`push-image` pushes the service image and records it by the digest the registry stored;
`register` runs on a merge to main, after the image is pushed (it records the image by
digest); `assign` runs after a stage's smoke test passed; `rollback-target` tells the deploy
workflow what to redeploy. Each prints one line (`push-image` after the engine's own output);
bad input exits 1, a git/GTO or container engine failure 2. The version rule is in `contrail.release.decide`.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import typer

from contrail.errors import unexpected

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
    """Run `step`, turning its errors into one line and exit 1 (input) or 2 (git/GTO/engine)."""
    from contrail.release.decide import ReleaseError
    from contrail.release.image import PushError
    from contrail.transports.git import GitError

    try:
        return step()
    except ReleaseError as exc:
        typer.echo(f"contrail release {name}: {exc}", err=True)
        raise typer.Exit(1) from None
    except (GitError, PushError) as exc:
        typer.echo(f"contrail release {name}: {exc}", err=True)
        raise typer.Exit(2) from None
    except Exception as exc:  # a bug or an input no check foresaw: still one line
        typer.echo(unexpected(f"contrail release {name}", exc), err=True)
        raise typer.Exit(2) from None


RefFileOption = typer.Option(..., "--ref-file", help="Write <repo>@sha256:... here.")


@release_group.command("push-image")
def push_image(
    image: str = typer.Option(..., "--image", help="The local image to push (LOCAL_IMAGE)."),
    repository: str = typer.Option(
        ..., "--repository", help="e.g. ghcr.io/owner/repo/flight-delay; lowercased."
    ),
    tag: str = typer.Option(..., "--tag", help="The tag to push it under (release.yml: commit)."),
    backend: str = typer.Option("docker", "--backend", help="docker or podman."),
    ref_file: Path = RefFileOption,
    github_output: Path | None = GithubOutputOption,
) -> None:
    """Push IMAGE as REPOSITORY:TAG; print `pushed <repo>@sha256:...` with the digest the
    registry stored, as the push reports it (never `RepoDigests`: see contrail.release.image).
    The reference also goes to --ref-file and, as `image=`, to --github-output. A plain-http
    registry is the engine's own configuration (podman: registries.conf), not a flag here."""

    def step() -> str:
        from contrail.release import image as images

        engine = images.check_backend(backend)
        repo = images.repository(repository)
        target = f"{repo}:{images.check_tag(tag)}"
        _engine(engine, "tag", image, target)
        if engine == "podman":
            with tempfile.TemporaryDirectory() as tmp:
                digest_file = Path(tmp) / "digest"
                _engine(engine, "push", "--digestfile", str(digest_file), target)
                digest = images.digest_from_file(digest_file.read_text(encoding="utf-8"))
        else:
            digest = images.digest_from_push_output(_engine(engine, "push", target), tag)
        ref = images.reference(repo, digest)
        ref_file.write_text(f"{ref}\n", encoding="utf-8")
        _write_outputs(github_output, {"image": ref})
        return f"pushed {ref}"

    typer.echo(_guard("push-image", step))


def _engine(*args: str) -> str:
    """Run a container engine command, passing its output through as it comes (a push takes
    minutes); return its stdout, where `docker push` reports the digest."""
    from contrail.release.image import PushError

    lines = []
    try:
        with subprocess.Popen(args, stdout=subprocess.PIPE, text=True) as process:
            assert process.stdout is not None
            for line in process.stdout:
                typer.echo(line, nl=False)
                lines.append(line)
    except OSError as exc:
        raise PushError(f"cannot run {args[0]}: {exc}") from None
    if process.returncode != 0:
        raise PushError(f"`{args[0]} {args[1]}` exited with {process.returncode}")
    return "".join(lines)


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

    def step() -> str:
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

    typer.echo(_guard("assign", step))


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
        from contrail.release import decide, deploy, registry

        decide.check_stage(stage)
        registrations, assignments = registry.history(REPO)
        history = decide.stage_history(assignments, stage)
        target = decide.rollback_target(history, [r.version for r in registrations], version)
        record = next(r for r in registrations if r.version == target).record()
        if record is None:
            raise decide.ReleaseError(f"the tag of {target} records no image digest")
        deploy_to = deploy.deploy_target(target, record.image, record.model_md5)
        _write_outputs(github_output, deploy_to.outputs())
        return f"{target} {record.image}"

    typer.echo(_guard("rollback-target", step))


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
