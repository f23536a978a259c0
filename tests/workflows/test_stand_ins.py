"""The stand-ins a workflow run under act talks to, checked with the real clients, outside act.

- tests/support/npm_registry.py serves `@dvcorg/cml` 0.20.6 from shared/: the workflow's own
  `npm install --global @dvcorg/cml@0.20.6` installs it, its dependencies coming from the
  normal registry.
- tests/support/fake_github.py over HTTPS: the installed CML finds the API from the git
  remote (`https://<host>/api/v3`), trusts it through NODE_EXTRA_CA_CERTS, and
  `cml comment update` edits its one watermarked comment in place, by number (`pr/N`, the
  workflow's form) and by commit (`pr`); `contrail gate --on-label` re-runs the newest
  pr-report.yml run's "Promotion gate" job through `contrail.transports.github`, trusting the API
  through SSL_CERT_FILE.

Expected values are written here (comment bodies, the calls GitHub would see), not read from
the stand-ins' code.
"""

# Marked `workflows` by this folder's conftest (`make test-workflows`). Installing CML takes
# 12-20 s; that test skips where npm is missing. The TLS stand-ins here are this module's own
# (`tls_github`, a fresh one per gate test), not the session's shared `github`.

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.fake_github import SYSTEM_CA_BUNDLE, FakeGitHub
from support.npm_registry import CML_TARBALL, NpmRegistry

from contrail.transports.github import GitHub, GitHubError

REPO_ROOT = Path(__file__).resolve().parents[2]
needs_cml_tarball = pytest.mark.skipif(
    not CML_TARBALL.is_file(), reason=f"{CML_TARBALL} is missing (shared/ beside the clone)"
)


def clean_env(**extra: str) -> dict[str, str]:
    """This machine's environment without any GitHub Actions or CML settings, plus `extra`:
    the tests may themselves run inside a workflow."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "CML_", "REPO_TOKEN"))
    }
    return {**env, **extra}


def run(cwd: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


@needs_cml_tarball
def test_the_npm_registry_serves_the_packed_cml_and_nothing_else(tmp_path):
    data = CML_TARBALL.read_bytes()
    with NpmRegistry() as registry:
        for path in ("/@dvcorg%2fcml", "/@dvcorg/cml"):  # npm's form, then a person's
            with urllib.request.urlopen(registry.url + path, timeout=10) as answer:
                packument = json.load(answer)
            assert packument["dist-tags"] == {"latest": "0.20.6"}
        release = packument["versions"]["0.20.6"]
        # npm resolves the dependencies and links `bin` from the packument's manifest.
        assert release["dependencies"]["@octokit/rest"] == "18.0.0"
        assert release["bin"]["cml"] == "bin/cml.js"
        assert release["dist"]["shasum"] == hashlib.sha1(data).hexdigest()
        with urllib.request.urlopen(release["dist"]["tarball"], timeout=10) as answer:
            assert answer.read() == data
        for other in ("/@dvcorg%2fdvc", "/left-pad"):
            with pytest.raises(urllib.error.HTTPError, match="404"):
                urllib.request.urlopen(registry.url + other, timeout=10)
        npmrc = registry.write_npmrc(tmp_path / ".npmrc")
        assert npmrc.read_text() == f"@dvcorg:registry={registry.url}/\n"


@pytest.fixture(scope="module")
def tls_github() -> Iterator[FakeGitHub]:
    with FakeGitHub(tls=True) as fake:
        yield fake


@pytest.fixture(scope="module")
def cml(tls_github: FakeGitHub, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CML installed as the workflow step does, with the step's NODE_EXTRA_CA_CERTS."""
    if shutil.which("npm") is None:
        pytest.skip("npm is not on PATH: CML cannot be installed")
    if not CML_TARBALL.is_file():
        pytest.skip(f"{CML_TARBALL} is missing (shared/ beside the clone)")
    folder = tmp_path_factory.mktemp("cml")
    with NpmRegistry() as registry:
        env = clean_env(
            npm_config_userconfig=str(registry.write_npmrc(folder / ".npmrc")),
            NODE_EXTRA_CA_CERTS=str(tls_github.node_ca_bundle),
        )
        prefix = str(folder / "npm")
        run(folder, "npm", "install", "--global", "--prefix", prefix, "@dvcorg/cml@0.20.6", env=env)
    # The tarball itself comes from npm's cache once it holds it (by integrity).
    assert ("/@dvcorg/cml", 200) in registry.requests
    return folder / "npm" / "bin" / "cml"


def test_cml_comment_update_edits_its_one_comment_on_the_pr_in_place(tls_github, cml, tmp_path):
    github = tls_github
    home, repo = tmp_path / "home", tmp_path / "repo"
    home.mkdir()
    # CML adds `safe.directory` entries to the global git config: a throwaway one.
    env = clean_env(HOME=str(home), GIT_CONFIG_GLOBAL=str(home / ".gitconfig"),
                    GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
                    GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com")  # fmt: skip
    run(tmp_path, "git", "init", "-q", "-b", "feature", str(repo), env=env)
    run(repo, "git", "commit", "-q", "--allow-empty", "-m", "report", env=env)
    run(repo, "git", "remote", "add", "origin", github.clone_url, env=env)
    sha = run(repo, "git", "rev-parse", "HEAD", env=env).stdout.strip()
    pull = github.add_pull("feature", head_sha=sha)
    env |= {
        # GITHUB_REPOSITORY makes CML pick its GitHub driver for a host that is not github.com.
        "GITHUB_REPOSITORY": github.repository,
        "REPO_TOKEN": github.token,
        "GITHUB_TOKEN": github.token,
        "NODE_EXTRA_CA_CERTS": str(github.node_ca_bundle),
        # As act passes them (the artifact actions need github.com); CML's telemetry then
        # looks the actor up through the API, and sends nothing.
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_ACTOR": "octocat",
        "ITERATIVE_DO_NOT_TRACK": "1",
    }
    watermark = f'![](https://cml.dev/watermark.png#{sha} "CML watermark contrail model report")'

    def post(report: str, target: str, **extra: str) -> None:
        (repo / "report.md").write_text(report)
        run(repo, str(cml), "comment", "update", f"--target={target}", "--no-publish",
            "--watermark-title=contrail model report", "report.md", env={**env, **extra})  # fmt: skip

    post("## First report\n", "pr/1")
    (first,) = pull.thread
    assert first.body == f"## First report\n\n\n{watermark}"
    post("## Second report\n", "pr/1", NODE_OPTIONS="--no-experimental-fetch")
    assert [(c.id, c.body) for c in pull.thread] == [
        (first.id, f"## Second report\n\n\n{watermark}")
    ]
    # `--target=pr` outside a pull_request event: the PR whose head is the commit.
    post("## Third report\n", "pr", GITHUB_SHA=sha, NODE_OPTIONS="--no-experimental-fetch")
    assert [(c.id, c.body) for c in pull.thread] == [
        (first.id, f"## Third report\n\n\n{watermark}")
    ]

    user, listing = ("GET", "/users/octocat"), ("GET", "issues/1/comments")
    edit = ("PATCH", f"issues/comments/{first.id}")
    assert [(c.method, c.path) for c in github.calls] == [
        user, listing, ("POST", "issues/1/comments"),
        user, listing, edit,
        user, ("GET", f"commits/{sha}/pulls"), listing, edit,
    ]  # fmt: skip
    assert all(c.status < 300 for c in github.calls)


def test_contrail_gate_on_label_re_runs_the_newest_gate_job_over_https(monkeypatch):
    sha, other = "a" * 40, "b" * 40
    jobs = ["Train and report", "Promotion gate"]
    with FakeGitHub(tls=True) as github:
        github.add_pull("retrain/flight-delay-2013-07", head_sha=sha, labels=["allow-regression"])
        github.add_run("pr-report.yml", sha, jobs=jobs)
        newest = github.add_run("pr-report.yml", sha, jobs=jobs)
        github.add_run("pr-report.yml", other, jobs=jobs)  # another commit's, newer still
        env = clean_env(
            **github.env(),
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            GITHUB_EVENT_NAME="pull_request",
            CONTRAIL_EVENT_ACTION="labeled",
            CONTRAIL_EVENT_LABEL="allow-regression",
            CONTRAIL_PR_NUMBER="1",
        )

        done = run(REPO_ROOT, "contrail", "gate", "--on-label", env=env)

        gate_job = newest.jobs[1]
        assert f"re-running 'Promotion gate' of run {newest.id}" in done.stdout
        assert github.reruns == [gate_job]
        assert (gate_job.status, newest.status) == ("queued", "queued")
        assert [(c.method, c.path, c.status) for c in github.calls] == [
            ("GET", "pulls/1", 200),
            ("GET", "actions/workflows/pr-report.yml/runs", 200),
            ("GET", f"actions/runs/{newest.id}/jobs", 200),
            ("POST", f"actions/jobs/{gate_job.id}/rerun", 201),
        ]
        assert github.calls[1].query == {"head_sha": sha, "per_page": "20"}

        # The same calls in this process: trusted only through SSL_CERT_FILE, and served
        # at the API root too (`/repos/...`, how the unit tests' plain-HTTP fake is used).
        api = GitHub(github.url, github.repository, github.token)
        monkeypatch.setenv("SSL_CERT_FILE", str(SYSTEM_CA_BUNDLE))
        with pytest.raises(GitHubError, match="CERTIFICATE_VERIFY_FAILED"):
            api.call("GET", "pulls/1")
        monkeypatch.setenv("SSL_CERT_FILE", str(github.node_ca_bundle))
        assert api.call("GET", "pulls/1")["head"]["sha"] == sha
        root = GitHub(github.server_url, github.repository, github.token)
        assert root.call("GET", "pulls/1")["labels"] == [{"name": "allow-regression"}]
        with pytest.raises(GitHubError, match="HTTP 401"):
            GitHub(github.url, github.repository, "wrong").call("GET", "pulls/1")
        with pytest.raises(GitHubError, match="HTTP 403"):  # the job is queued again
            api.call("POST", f"actions/jobs/{gate_job.id}/rerun")
