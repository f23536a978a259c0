"""The deploy steps as `contrail release ...` commands (what the Makefile's deploy targets run):
settings from the environment, exit 1 naming what is missing or refused, exit 2 when kubectl
fails. kubectl is a fake on PATH that records its calls (`kubectl kustomize` is the real one,
so deploy/render.sh renders the real overlays)."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest
import yaml
from support.release_repo import PipelineRepo, image
from typer.testing import CliRunner

from contrail.cli import app
from contrail.release import rollout

PROJECT = Path(__file__).resolve().parents[2]
DIGEST = "sha256:" + "cd" * 32
IMAGE = f"ghcr.io/octo/flights/flight-delay@{DIGEST}"
REAL_KUBECTL = shutil.which("kubectl")
ENVIRONMENT = ("STAGE", "IMAGE", "VERSION", "EXPECT_VERSION", "SMOKE_PORT", "ROLLOUT_TIMEOUT",
            "SOAK_SECONDS", "SOAK_INTERVAL", "KIND_CLUSTER", "CONTAINER_BACKEND", "KUBECONFIG",
            "KUBECONFIG_CONTENT", "RUNNER_TEMP", "GITHUB_STEP_SUMMARY", "LOCAL_IMAGE", "IMAGE_REF_FILE",
            "IMAGE_REPOSITORY", "IMAGE_TAG")  # fmt: skip
FAKE_KUBECTL = """#!/bin/sh
printf '%s\\n' "$*" >> "$CALLS"
if [ "$1" = kustomize ]; then exec "$REAL_KUBECTL" "$@"; fi
if [ "$1" = apply ]; then cat >> "$APPLIED"; fi
if [ -n "$FAIL" ]; then
  case "$*" in *"$FAIL"*) echo "error: timed out waiting for the condition" >&2; exit 1 ;; esac
fi
"""


class Kubectl:
    def __init__(self, folder: Path) -> None:
        self.calls_file, self.applied_file = folder / "calls", folder / "applied"

    @property
    def calls(self) -> list[str]:
        return self.calls_file.read_text().splitlines() if self.calls_file.exists() else []

    @property
    def applied(self) -> list[dict[str, object]]:
        return [d for d in yaml.safe_load_all(self.applied_file.read_text()) if d]


@pytest.fixture
def kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Kubectl:
    """The fake kubectl first on PATH, no deploy setting from this machine's environment, and
    the project as working directory (the commands read deploy/ from it)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "kubectl").write_text(FAKE_KUBECTL)
    (bin_dir / "kubectl").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    fake = Kubectl(tmp_path)
    monkeypatch.setenv("CALLS", str(fake.calls_file))
    monkeypatch.setenv("APPLIED", str(fake.applied_file))
    monkeypatch.setenv("REAL_KUBECTL", REAL_KUBECTL or "kubectl-is-not-installed")
    monkeypatch.delenv("FAIL", raising=False)
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(PROJECT)
    return fake


def contrail(*args: str, code: int, env: dict[str, str] | None = None) -> tuple[str, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == code, result.output
    return result.stdout.strip(), result.stderr.strip()


@pytest.mark.parametrize(
    ("command", "env", "error"),
    [
        ("deploy", {"IMAGE": IMAGE}, "set STAGE"),
        ("deploy", {"STAGE": "staging"}, "set IMAGE"),
        ("deploy", {"STAGE": "qa", "IMAGE": IMAGE}, "unknown stage 'qa': the stages are "
         "staging, production"),
        ("deploy", {"STAGE": "staging", "IMAGE": "ghcr.io/o/r/flight-delay:v1"},
         "IMAGE must name the image by digest, like ghcr.io/owner/repo/flight-delay@sha256:<64 "
         "hex>; got 'ghcr.io/o/r/flight-delay:v1'"),
        ("canary", {}, "set IMAGE"),
        ("canary", {"IMAGE": "flight-delay"}, "IMAGE must name the image by digest, like "
         "ghcr.io/owner/repo/flight-delay@sha256:<64 hex>; got 'flight-delay'"),
        ("deploy-kind", {}, "set IMAGE"),
        ("deploy-kind", {"IMAGE": IMAGE, "CONTAINER_BACKEND": "buildah"},
         "unknown container backend 'buildah': use docker or podman"),
        ("smoke-stage", {}, "set STAGE"),
        ("rollback", {}, "set STAGE"),
        ("smoke-image", {}, "set LOCAL_IMAGE"),
    ],
)  # fmt: skip
def test_bad_input_exits_1_naming_it_and_touches_no_cluster(
    kubectl: Kubectl, command: str, env: dict[str, str], error: str
) -> None:
    _, stderr = contrail("release", command, code=1, env=env)
    assert stderr == f"contrail release {command}: {error}"
    assert kubectl.calls == []


@pytest.mark.skipif(REAL_KUBECTL is None, reason="kubectl renders the overlays")
def test_deploy_applies_the_rendered_overlay_pinned_to_the_image(kubectl: Kubectl) -> None:
    stdout, _ = contrail("release", "deploy", code=0, env={"STAGE": "staging", "IMAGE": IMAGE})
    assert stdout == f"deployed {IMAGE} to staging"
    assert kubectl.calls[1:] == [
        "apply -f -",
        "-n contrail-staging rollout status deployment/flight-delay --timeout=300s",
    ]
    (deployment,) = [d for d in kubectl.applied if d["kind"] == "Deployment"]
    assert deployment["metadata"] == {**deployment["metadata"], "namespace": "contrail-staging"}
    (container,) = deployment["spec"]["template"]["spec"]["containers"]  # type: ignore[index]
    assert container["image"] == IMAGE


@pytest.mark.skipif(REAL_KUBECTL is None, reason="kubectl renders the overlays")
def test_a_failed_rollout_is_undone_and_exits_1(
    kubectl: Kubectl, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAIL", "rollout status")
    env = {"STAGE": "production", "IMAGE": IMAGE, "ROLLOUT_TIMEOUT": "5s"}
    _, stderr = contrail("release", "deploy", code=1, env=env)
    assert kubectl.calls[-2:] == [
        "-n contrail rollout status deployment/flight-delay --timeout=5s",
        "-n contrail rollout undo deployment/flight-delay",
    ]
    assert stderr.splitlines()[-1] == (
        f"contrail release deploy: the rollout of {IMAGE} to production failed: "
        "`kubectl -n contrail rollout status deployment/flight-delay --timeout=5s` exited with 1: "
        "error: timed out waiting for the condition"
    )


def test_canary_delete_and_a_failing_kubectl_exits_2(
    kubectl: Kubectl, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert contrail("release", "canary-delete", code=0)[0] == "no production canary"
    assert kubectl.calls == [
        "-n contrail delete deployment/flight-delay-canary --ignore-not-found --wait=true"
    ]
    monkeypatch.setenv("FAIL", "delete")
    _, stderr = contrail("release", "canary-delete", code=2)
    assert stderr.splitlines()[-1].startswith(
        "contrail release canary-delete: `kubectl -n contrail delete "
    )


# ----------------------------------------------------------------------------------------
# deploy.yml's choice of cluster
# ----------------------------------------------------------------------------------------
KUBECONFIG_TEXT = "apiVersion: v1\nkind: Config\nusers: [{name: x, user: {token: s3cr3t-t0ken}}]"


def test_a_kubeconfig_secret_is_written_privately_and_named_to_later_steps(
    kubectl: Kubectl, tmp_path: Path
) -> None:
    output, github_env = tmp_path / "output", tmp_path / "env"
    env = {"STAGE": "production", "KUBECONFIG_CONTENT": KUBECONFIG_TEXT,
           "RUNNER_TEMP": str(tmp_path)}  # fmt: skip
    files = ["--github-output", str(output), "--github-env", str(github_env)]
    stdout, stderr = contrail("release", "choose-cluster", *files, code=0, env=env)
    assert stdout == "deploy target for production: cluster"
    assert "s3cr3t" not in stdout + stderr
    written = tmp_path / "kubeconfig"
    assert written.read_text() == KUBECONFIG_TEXT + "\n"
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert github_env.read_text() == f"KUBECONFIG={written}\n"
    assert output.read_text() == "mode=cluster\n"


@pytest.mark.parametrize(("stage", "mode"), [("staging", "kind"), ("production", "none")])
def test_without_a_kubeconfig_staging_goes_to_kind_and_production_nowhere(
    kubectl: Kubectl, tmp_path: Path, stage: str, mode: str
) -> None:
    output = tmp_path / "output"
    stdout, _ = contrail(
        "release", "choose-cluster", "--github-output", str(output), code=0, env={"STAGE": stage}
    )
    assert stdout == f"deploy target for {stage}: {mode}"
    assert output.read_text() == f"mode={mode}\n"


def test_no_cluster_fails_loudly_in_the_log_and_the_job_summary(
    kubectl: Kubectl, tmp_path: Path
) -> None:
    summary = tmp_path / "summary.md"
    env = {"STAGE": "production", "VERSION": "v1.2.0", "GITHUB_STEP_SUMMARY": str(summary)}
    stdout, _ = contrail("release", "no-cluster", code=1, env=env)
    message = (
        "production has no cluster: set the KUBECONFIG secret of its GitHub environment. "
        "Nothing was deployed and no stage tag was made."
    )
    assert stdout == f"::error title=No cluster for production::{message}"
    assert summary.read_text() == f"### Deploy of v1.2.0 to production stopped\n\n{message}\n"


# ----------------------------------------------------------------------------------------
# rollback
# ----------------------------------------------------------------------------------------
def two_staging_versions(repo: PipelineRepo) -> None:
    for n in (1, 2):
        repo.commit(str(n) * 32)
        contrail("release", "register", "--image-digest", image(n), "--push", code=0)
        contrail("release", "assign", "--stage", "staging", "--version", f"v1.0.{n - 1}",
                 "--push", code=0)  # fmt: skip


def test_rollback_without_kubeconfig_only_says_what_it_would_deploy(
    repo: PipelineRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    two_staging_versions(repo)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    stdout, _ = contrail("release", "rollback", code=0, env={"STAGE": "staging"})
    assert stdout.splitlines() == [f"v1.0.0 {image(1)}", "KUBECONFIG is not set: nothing deployed"]
    assert "flight-delay#staging#3" not in repo.origin_tags()


def test_rollback_redeploys_then_assigns_the_stage(
    repo: PipelineRepo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    two_staging_versions(repo)
    redeployed = []
    monkeypatch.setattr(
        rollout, "redeploy", lambda *args, **_: redeployed.append((args[3], args[4], args[5]))
    )
    env = {"STAGE": "staging", "KUBECONFIG": str(tmp_path / "kubeconfig"), "SOAK_SECONDS": "9"}
    stdout, _ = contrail("release", "rollback", code=0, env=env)
    (stage, target, settings), = redeployed  # fmt: skip
    assert (stage, target.version, target.image) == ("staging", "v1.0.0", image(1))
    assert target.model_version == "1" * 16
    assert settings == rollout.RolloutSettings(3300, "300s", 9, 30)
    assert stdout.splitlines()[-1] == (
        "flight-delay v1.0.0 -> staging (rollback from v1.0.1): flight-delay#staging#3"
    )
    assert "flight-delay#staging#3" in repo.origin_tags()
