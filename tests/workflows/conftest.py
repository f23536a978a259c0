"""The GitHub around a workflow run, on loopback: one per test session, shared by every run.

- `github`: the REST API stand-in (HTTPS), with a bare `origin` repository; the repository's
  remote is the stand-in's clone URL, which git rewrites to the bare origin
  (`url.<origin>.insteadOf`), so CML derives the stand-in's API from it as on GitHub.
- `project`: a clone holding the project's files as they are (one commit on `main`); act
  copies its work tree into each job's workspace, as actions/checkout would check it out.
- `act`: runs a workflow for one event (tests/support/act.py), with the npm registry that
  serves CML for the `@dvcorg` scope, the loopback OCI registry standing in for ghcr.io
  (registries.conf), podman for the Docker engine, and the kubectl/kind stand-ins.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.act import PROJECT, STAND_INS, Act, Run, Toolbox
from support.fake_github import FakeGitHub
from support.loopback import free_port
from support.npm_registry import NpmRegistry
from support.oci_registry import OciRegistry
from support.workflow_repo import GIT_ENV, OWNER_REPO, git, push_event


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.workflows)


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("workflows")


@pytest.fixture(scope="session")
def origin(session_dir: Path) -> Path:
    bare = session_dir / "origin.git"
    subprocess.run(["git", "init", "--quiet", "--bare", "-b", "main", str(bare)], check=True)
    return bare


@pytest.fixture(scope="session")
def github(origin: Path) -> Iterator[FakeGitHub]:
    with FakeGitHub(repository=OWNER_REPO, origin=origin, tls=True) as fake:
        yield fake


@pytest.fixture(scope="session")
def gitconfig(session_dir: Path, github: FakeGitHub, origin: Path) -> Path:
    """The runner's global git config: the stand-in's clone URL is the bare origin."""
    config = session_dir / "gitconfig"
    # actions/checkout fetches from GITHUB_SERVER_URL, which act runs with as github.com.
    config.write_text(
        f'[url "{origin}"]\n\tinsteadOf = {github.clone_url}\n'
        f"\tinsteadOf = https://github.com/{OWNER_REPO}\n"
        "[safe]\n\tdirectory = *\n[init]\n\tdefaultBranch = main\n"
    )
    GIT_ENV["GIT_CONFIG_GLOBAL"] = str(config)
    return config


@pytest.fixture(scope="session")
def project(session_dir: Path, github: FakeGitHub, gitconfig: Path) -> Path:
    """The repository as GitHub has it: the project's files, one commit on main, pushed."""
    repo = session_dir / "repo"
    files = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=PROJECT,
            check=True,
            capture_output=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, files):
        source = PROJECT / name
        if source.is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    git(repo, "init", "--quiet", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "contrail")
    git(repo, "remote", "add", "origin", github.clone_url)
    git(repo, "push", "--quiet", "origin", "main")
    return repo


@pytest.fixture(scope="session")
def npm_registry() -> Iterator[NpmRegistry]:
    with NpmRegistry() as registry:
        yield registry


@pytest.fixture(scope="session")
def registry(session_dir: Path) -> Iterator[OciRegistry]:
    """The image registry (ghcr.io's stand-in, named by the IMAGE_REGISTRY variable)."""
    with OciRegistry(session_dir / "registry") as started:
        yield started


@pytest.fixture(scope="session")
def act(
    session_dir: Path,
    github: FakeGitHub,
    gitconfig: Path,
    npm_registry: NpmRegistry,
    registry: OciRegistry,
) -> Iterator[Act]:
    npmrc = npm_registry.write_npmrc(session_dir / "npmrc")
    trust = str(github.node_ca_bundle)
    env = {
        "GIT_CONFIG_GLOBAL": str(gitconfig),
        # The session's own uv cache, which setup-uv saves to and restores from act's cache
        # server as on GitHub; never this machine's (jobs would extract into it at once).
        "UV_CACHE_DIR": str(session_dir / "uv-cache"),
        "SSL_CERT_FILE": trust,
        "NODE_EXTRA_CA_CERTS": trust,
        "npm_config_userconfig": str(npmrc),
        "npm_config_prefix": str(session_dir / "npm-global"),
        # CML would send usage telemetry off this machine.
        "ITERATIVE_DO_NOT_TRACK": "1",
        # The Docker engine a runner has is podman here (host networking only).
        "CONTAINER_BACKEND": "podman",
        "CONTAINERIZE_OPTS": "--opt network=host",
        "CONTAINERS_REGISTRIES_CONF": str(registry.registries_conf),
        "CONTRAIL_STANDIN_BIN": str(STAND_INS / "bin"),
        # The jobs' environments have no dev tools: the stand-in validates with the suite's.
        "CONTRAIL_STANDIN_VALIDATOR": str(Path(sys.executable).parent / "kubernetes-validate"),
        "CONTRAIL_STANDIN_LOG": str(session_dir / "kubectl.jsonl"),
        "CONTRAIL_STANDIN_STATE": str(session_dir / "cluster"),
        # The namespaces of the clusters a KUBECONFIG secret reaches (the overlays' own).
        "CONTRAIL_STANDIN_NAMESPACES": "contrail contrail-staging",
        # The canary soak scrapes every 5 s instead of 30: the soak-seconds input stays short.
        "SOAK_INTERVAL": "5",
        # The session's own local port for the smoke tests' port-forwards (another session,
        # or a service on this machine, may hold the default 3300).
        "SMOKE_PORT": str(free_port()),
    }
    path = f"{STAND_INS / 'bin'}:{session_dir / 'npm-global' / 'bin'}:{os.environ['PATH']}"
    seen = {"calls": 0, "cluster": 0}
    cluster_log = session_dir / "kubectl.jsonl"

    def received() -> str:
        """The stand-in GitHub's writes and the cluster stand-in's calls since the last run."""
        calls = github.calls[seen["calls"] :]
        cluster = cluster_log.read_text().splitlines() if cluster_log.exists() else []
        lines = [f"- GitHub: {c.method} {c.path} -> {c.status}" for c in calls if c.method != "GET"]
        for line in cluster[seen["cluster"] :]:
            call = json.loads(line)
            lines.append(
                f"- {call['tool']}: {' '.join(call.get('argv') or [call.get('action', '')])}"
                f" -> {call.get('exit')}"
            )
        seen.update(calls=len(github.calls), cluster=len(cluster))
        return "\n".join(lines) + "\n"

    yield Act(
        toolbox=Toolbox(session_dir / "toolbox"),
        github_instance=github.server_url.removeprefix("https://"),
        secrets={"GITHUB_TOKEN": github.token},
        variables={"IMAGE_REGISTRY": registry.host},
        env=env,
        process_env={"PATH": path},
        logs=session_dir / "runs",
        received=received,
    )
    # The pods the cluster stand-in played outlive the runs: take them down.
    for record in (session_dir / "cluster").glob("clusters/*/pods/*/*.json"):
        manifest = json.loads(record.read_text()).get("manifest")
        if manifest:
            subprocess.run(["podman", "kube", "down", manifest], capture_output=True)


@pytest.fixture(scope="session")
def main_cache(act: Act, project: Path) -> Run:
    """dvc-cache.yml on a push to main, first of all: later runs restore main's DVC cache
    from act's cache server, as they restore GitHub's."""
    run = act(project, "dvc-cache.yml", "push", push_event(project))
    assert run.job("save").result == "success", run.text()[-5000:]
    return run
