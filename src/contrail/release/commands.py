"""What the `contrail release ...` commands do: read the release record (GTO tags), decide
(`contrail.release.versions`, `.deploy`), act through the transports, and return the one line
each prints. Bad input or a refused version raises `ReleaseError`/`DeployFailed`; a tool that
fails raises its transport's error (the CLI maps both to exit codes).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import typer

from contrail.github_output import append_outputs
from contrail.identity import MODEL_NAME
from contrail.release import registry, versions
from contrail.release.deploy import DeployTarget, SoakVerdict
from contrail.release.rollout import RolloutSettings

REPO = Path(".")


def need(value: str | None, variable: str) -> str:
    """A setting the command cannot do without (e.g. STAGE), or a one-line error naming it."""
    if not value:
        raise versions.ReleaseError(f"set {variable}")
    return value


def push_image(
    backend: str, image: str, repository: str, tag: str, ref_file: Path, github_output: Path | None
) -> str:
    """Push `image` as `repository:tag`; the reference by the digest the registry stored goes
    to `ref_file` and, as `image=`, to the outputs."""
    from contrail.release import ship
    from contrail.transports import containers

    ref = ship.push_image(containers, backend, image, repository, tag)
    ref_file.write_text(f"{ref}\n", encoding="utf-8")
    append_outputs(github_output, {"image": ref})
    return f"pushed {ref}"


def register(
    image_digest: str, rev: str, push: bool, dry_run: bool, github_output: Path | None
) -> str:
    """A new version tag for the commit's model if it changed; `version=` goes to the outputs
    only when the commit has a version (new, or a re-run's)."""
    image = versions.check_image(image_digest)
    commit = registry.resolve(REPO, rev)
    current = registry.model_state(REPO, commit)
    registrations, _ = registry.history(REPO)
    latest = versions.latest_registration(registrations)
    latest_state = registry.model_state(REPO, latest.commit) if latest else None
    decision = versions.decide_register(commit, current, registrations, latest_state)
    if dry_run:
        return f"{decision.line()} [dry run]"
    if decision.action == "register":
        record = versions.ReleaseRecord(
            artifact=MODEL_NAME,
            version=decision.version,
            commit=commit,
            image=image,
            model_md5=current.md5,
            train_start=current.train_start,
            train_end=current.train_end,
            metrics=versions.headline_metrics(registry.evaluation(REPO, commit)),
            change=f"{decision.bump}: {decision.reason}",
        )
        registry.register(REPO, commit, decision.version, record.to_message())
    if push and (decision.action == "register" or decision.at_commit):
        registry.push(REPO, f"{MODEL_NAME}@{decision.version}")
    if decision.action == "register" or decision.at_commit:
        append_outputs(github_output, {"version": decision.version})
    return decision.line()


def assign(stage: str, version: str, push: bool) -> str:
    """Record that `version` passed `stage`'s smoke test (a new stage tag), or nothing if it
    already holds the stage."""
    registrations, assignments = registry.history(REPO)
    decision = versions.decide_assign(stage, version, registrations, assignments)
    if decision.action == "noop":
        return decision.line()
    found = next(r for r in registrations if r.version == version)
    record = found.record()
    image = f"; image {record.image}" if record else ""
    message = f"{MODEL_NAME} {version} -> {stage}: smoke test passed{image}"
    tag = registry.assign(REPO, stage, version, message, force=decision.force)
    if push:
        registry.push(REPO, tag)
    return f"{decision.line()}: {tag}"


def rollback_target(stage: str, version: str | None) -> DeployTarget:
    """What `stage` rolls back to (its previous version, or `version`), from the tag's record."""
    from contrail.release import deploy

    versions.check_stage(stage)
    registrations, assignments = registry.history(REPO)
    history = versions.stage_history(assignments, stage)
    target = versions.rollback_target(history, [r.version for r in registrations], version)
    record = next(r for r in registrations if r.version == target).record()
    if record is None:
        raise versions.ReleaseError(f"the tag of {target} records no image digest")
    return deploy.deploy_target(target, record.image, record.model_md5)


def print_rollback_target(stage: str, version: str | None, github_output: Path | None) -> str:
    """`<version> <image>`; the outputs get what deploy.yml pins (`DeployTarget.outputs`)."""
    target = rollback_target(stage, version)
    append_outputs(github_output, target.outputs())
    return f"{target.version} {target.image}"


def stage_tag(tag: str, github_output: Path | None) -> str:
    """`<stage> <version>` of a stage assignment tag, as `gto check-ref` parses it."""
    from contrail.release import deploy
    from contrail.transports import git

    # GTO parses the name (this artifact, a stage from .gto, an existing annotated tag).
    parsed = deploy.parse_stage_tag(git.gto(REPO, "check-ref", tag, "--json"), tag)
    append_outputs(github_output, {"stage": parsed.stage, "version": parsed.version})
    return f"{parsed.stage} {parsed.version}"


def canary_verdict(
    before: Path, after: Path, max_error_rate: float, p95_budget_ms: float, min_requests: int
) -> SoakVerdict:
    """The soak verdict between two /metrics scrapes saved to files."""
    from contrail.release import deploy

    try:
        texts = before.read_text(encoding="utf-8"), after.read_text(encoding="utf-8")
    except OSError as exc:
        raise versions.ReleaseError(f"cannot read a scrape: {exc}") from None
    policy = deploy.SoakPolicy(max_error_rate, p95_budget_ms / 1000, min_requests)
    return deploy.soak_verdict(*texts, policy)


def release_table() -> str:
    """Every version: stages, commit, headline metrics, image."""
    registrations, assignments = registry.history(REPO)
    return versions.release_table(registrations, assignments)


def deploy(stage: str | None, image: str | None, timeout: str) -> str:
    from contrail.release import rollout
    from contrail.transports import cluster

    rollout.deploy(cluster, need(stage, "STAGE"), need(image, "IMAGE"), timeout)
    return f"deployed {image} to {stage}"


def deploy_kind(image: str | None, backend: str, kind_cluster: str, timeout: str) -> str:
    from contrail.release import image as images
    from contrail.release import rollout
    from contrail.transports import cluster, containers

    engine = images.check_backend(backend)
    wanted = need(image, "IMAGE")
    rollout.deploy_kind(cluster, containers, engine, wanted, kind_cluster, timeout)
    return f"deployed {wanted} to kind cluster {kind_cluster}"


def smoke_stage(stage: str | None, port: int, expect_version: str | None) -> str:
    from contrail.release import probe, rollout
    from contrail.transports import cluster

    chosen = need(stage, "STAGE")
    rollout.smoke_stage(cluster, probe.smoke, chosen, port, expect_version)
    return f"{chosen}'s Service passed its smoke test"


def canary(image: str | None, expect_version: str | None, settings: RolloutSettings) -> str:
    from contrail.release import probe, rollout
    from contrail.transports import cluster

    wanted = need(image, "IMAGE")
    rollout.canary(cluster, probe.smoke, probe.scrape, wanted, expect_version, settings)
    return f"the canary of {wanted} passed its soak"


def canary_delete() -> str:
    from contrail.release import rollout
    from contrail.transports import cluster

    rollout.delete_canary(cluster)
    return "no production canary"


def rollback(
    stage: str | None, version: str | None, settings: RolloutSettings, env: Mapping[str, str]
) -> str:
    """Print the target; with KUBECONFIG set, redeploy it as deploy.yml would, smoke-test it
    and assign the stage (the tag is pushed)."""
    from contrail.release import probe, rollout
    from contrail.transports import cluster

    chosen = need(stage, "STAGE")
    target = rollback_target(chosen, version)
    typer.echo(f"{target.version} {target.image}")
    if not env.get("KUBECONFIG"):
        return "KUBECONFIG is not set: nothing deployed"
    rollout.redeploy(cluster, probe.smoke, probe.scrape, chosen, target, settings)
    return assign(chosen, target.version, push=True)


def smoke_image(image: str | None, backend: str, port: int) -> str:
    from contrail.release import probe, ship
    from contrail.transports import containers

    wanted = need(image, "LOCAL_IMAGE")
    ship.smoke_image(containers, probe.smoke, backend, wanted, port)
    return f"{wanted} passed its smoke test"


def choose_cluster(
    stage: str | None, github_output: Path | None, github_env: Path | None, env: Mapping[str, str]
) -> str:
    """`mode=` to the outputs: `cluster` with a kubeconfig in KUBECONFIG_CONTENT (written to a
    private file under RUNNER_TEMP, named to later steps through `github_env`; never printed),
    `kind` for staging without one, else `none`."""
    from contrail.release import rollout

    content = env.get("KUBECONFIG_CONTENT", "")
    if content:
        folder = Path(env.get("RUNNER_TEMP") or "/tmp")
        kubeconfig = rollout.write_kubeconfig(folder, content)
        append_outputs(github_env, {"KUBECONFIG": str(kubeconfig)})
    mode = rollout.cluster_mode(bool(content), stage)
    append_outputs(github_output, {"mode": mode})
    return f"deploy target for {stage or '?'}: {mode}"


def no_cluster(stage: str | None, version: str | None, step_summary: Path | None) -> str:
    """The workflow error saying `stage` has no cluster; the job summary gets it too."""
    from contrail.release import rollout

    error, summary = rollout.no_cluster(stage, version)
    if step_summary is not None:
        with step_summary.open("a", encoding="utf-8") as out:
            out.write(summary)
    return error
