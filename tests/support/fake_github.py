"""A stand-in for GitHub's REST API on 127.0.0.1: for contrail's callers and for CML.

It answers what contrail calls (the retraining loop's pulls, labels, comments and dispatch;
the gate's pull, commit-to-pulls, workflow runs, jobs and job re-run) and what CML 0.20.6
calls for `cml comment update --target=pr/N|pr` (`GET /users/{actor}` for its telemetry,
`GET commits/{sha}/pulls` for `--target=pr` outside a `pull_request` event, then list, create
or edit issue comments), with in-memory state and GitHub's shapes and status codes. Every
call is recorded. Like GitHub it refuses what would fail there: a wrong token (401), an
unknown path or number (404), a second open PR for the same head branch, and, given the bare
`origin` repository, a PR or a workflow dispatch for a branch that was not pushed (422).

The API is served at `/api/v3/...` (GitHub Enterprise's layout, which CML derives from the
git remote and act passes as GITHUB_API_URL) and at the root. With `tls=True` it is HTTPS
with a throwaway self-signed certificate, as CML calls `https://<remote host>/api/v3` for any
host but github.com: give Node NODE_EXTRA_CA_CERTS=`node_ca_bundle` (the system CAs plus this
certificate: the certificate alone breaks `npm install`) and Python SSL_CERT_FILE, the same
file. `env()` sets what `GitHub.from_env` and both TLS clients read.

    with FakeGitHub(origin=bare_repo, tls=True) as github:
        pull = github.add_pull("retrain/x", head_sha=sha, labels=["retrain"])
        github.add_run("pr-report.yml", sha, jobs=["Train and report", "Promotion gate"])
        ...  # run the code under test with github.env(); a git remote at github.clone_url
        github.pulls[1].thread, github.reruns, github.dispatches, github.writes()
"""

from __future__ import annotations

import json
import re
import shutil
import ssl
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from socket import socket
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from support.loopback import Serving, handler

# Long, so that act's masking of secret values in its log cannot hit ordinary words.
TOKEN = "fake-github-token-for-contrail-workflow-tests-4f9d2c7a1b"
API_PREFIX = "/api/v3"
# Debian's bundle of the system's CAs: npm still needs them when Node is given ours.
SYSTEM_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")

Reply = tuple[int, Any]


@dataclass(frozen=True)
class Call:
    method: str
    # The path after /repos/{owner}/{name}/, e.g. "pulls" or "issues/3/labels"; any other
    # API path from its root, e.g. "/users/octocat".
    path: str
    query: dict[str, str]
    body: Any
    status: int


@dataclass
class Comment:
    id: int
    issue: int
    body: str
    user: str


@dataclass
class FakePull:
    number: int
    title: str
    body: str
    head: str
    base: str
    state: str = "open"
    # The head commit when `origin` does not have the branch (then its tip is the head).
    head_sha: str = ""
    labels: list[str] = field(default_factory=list)
    thread: list[Comment] = field(default_factory=list)

    @property
    def comments(self) -> list[str]:
        return [c.body for c in self.thread]


@dataclass
class FakeJob:
    id: int
    run_id: int
    name: str
    status: str
    conclusion: str | None


@dataclass
class FakeRun:
    """A workflow run as a test registers it (e.g. for an act run it did); mutable."""

    id: int
    workflow: str  # the file name, e.g. "pr-report.yml"
    head_sha: str
    head_branch: str
    event: str
    status: str
    conclusion: str | None
    jobs: list[FakeJob] = field(default_factory=list)


class FakeGitHub:
    def __init__(
        self,
        repository: str = "octo/flights",
        token: str = TOKEN,
        origin: Path | None = None,
        tls: bool = False,
        login: str = "github-actions[bot]",
    ) -> None:
        self.repository, self.token, self.origin = repository, token, origin
        self.tls, self.login = tls, login
        self.calls: list[Call] = []
        self.pulls: dict[int, FakePull] = {}
        self.runs: dict[int, FakeRun] = {}
        self.dispatches: list[dict[str, Any]] = []
        self.reruns: list[FakeJob] = []  # jobs re-run through the API, in order
        self._comments: dict[int, Comment] = {}  # by id: GitHub edits a comment by id alone
        self._ids = iter(range(1001, 10**9))  # comment, run and job ids, never reused
        self._lock = threading.Lock()
        self._serving: Serving | None = None
        self._tls_dir: Path | None = None
        self._routes: list[tuple[str, str, Callable[..., Reply]]] = [
            ("GET", r"pulls", self._list_pulls),
            ("POST", r"pulls", self._create_pull),
            ("GET", r"pulls/(\d+)", self._get_pull),
            ("PATCH", r"pulls/(\d+)", self._update_pull),
            ("POST", r"issues/(\d+)/labels", self._add_labels),
            ("GET", r"issues/(\d+)/comments", self._list_comments),
            ("POST", r"issues/(\d+)/comments", self._create_comment),
            ("PATCH", r"issues/comments/(\d+)", self._update_comment),
            ("GET", r"commits/([0-9a-fA-F]+)/pulls", self._commit_pulls),
            ("POST", r"actions/workflows/([^/]+)/dispatches", self._dispatch),
            ("GET", r"actions/workflows/([^/]+)/runs", self._list_runs),
            ("GET", r"actions/runs/(\d+)", self._get_run),
            ("GET", r"actions/runs/(\d+)/jobs", self._list_jobs),
            ("POST", r"actions/jobs/(\d+)/rerun", self._rerun_job),
            ("GET", r"/users/([^/]+)", self._get_user),
        ]

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> FakeGitHub:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> None:
        requests = handler(self._serve)
        if self.tls:
            self._tls_dir = Path(tempfile.mkdtemp(prefix="fake-github-tls-"))
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*_self_signed(self._tls_dir))
            self.node_ca_bundle.write_bytes(
                SYSTEM_CA_BUNDLE.read_bytes() + self.cert_path.read_bytes()
            )
            self._serving = Serving(_TLSServer(("127.0.0.1", 0), requests, context))
        else:
            self._serving = Serving(ThreadingHTTPServer(("127.0.0.1", 0), requests))

    def stop(self) -> None:
        if self._serving is not None:
            self._serving.stop()
            self._serving = None
        if self._tls_dir is not None:
            shutil.rmtree(self._tls_dir, ignore_errors=True)
            self._tls_dir = None

    @property
    def server_url(self) -> str:
        """The web root, e.g. https://127.0.0.1:PORT: act's GITHUB_SERVER_URL, git remotes."""
        assert self._serving is not None, "start() the fake first"
        return f"{'https' if self.tls else 'http'}://{self._serving.address}"

    @property
    def url(self) -> str:
        """The API base, GITHUB_API_URL."""
        return self.server_url + API_PREFIX

    @property
    def clone_url(self) -> str:
        """A `remote.origin.url` from which CML derives this API (nothing is served there)."""
        return f"{self.server_url}/{self.repository}.git"

    @property
    def cert_path(self) -> Path:
        assert self._tls_dir is not None, "only a started FakeGitHub(tls=True) has a certificate"
        return self._tls_dir / "cert.pem"

    @property
    def node_ca_bundle(self) -> Path:
        """The system CAs plus this certificate: NODE_EXTRA_CA_CERTS and SSL_CERT_FILE."""
        return self.cert_path.with_name("ca-bundle.pem")

    def env(self) -> dict[str, str]:
        """The variables `GitHub.from_env` reads, and with TLS the ones that trust it."""
        env = {
            "GITHUB_API_URL": self.url,
            "GITHUB_REPOSITORY": self.repository,
            "GITHUB_TOKEN": self.token,
        }
        if self.tls:
            env["SSL_CERT_FILE"] = env["NODE_EXTRA_CA_CERTS"] = str(self.node_ca_bundle)
        return env

    # -- seeding and what the tests read ---------------------------------------------------

    def add_pull(
        self,
        head: str,
        *,
        head_sha: str = "",
        labels: Iterable[str] = (),
        base: str = "main",
        title: str = "A pull request",
        body: str = "",
    ) -> FakePull:
        """An open pull request, as if someone had opened it on GitHub."""
        with self._lock:
            number = max(self.pulls, default=0) + 1
            pull = FakePull(number, title, body, head, base, head_sha=head_sha, labels=[*labels])
            self.pulls[number] = pull
            return pull

    def add_run(
        self,
        workflow: str,
        head_sha: str,
        *,
        jobs: Iterable[str],
        head_branch: str = "",
        event: str = "pull_request",
        status: str = "completed",
        conclusion: str | None = "success",
    ) -> FakeRun:
        """A workflow run with its jobs (same status and conclusion); ids grow with each."""
        with self._lock:
            run = FakeRun(
                next(self._ids), workflow, head_sha, head_branch, event, status, conclusion
            )
            run.jobs = [FakeJob(next(self._ids), run.id, n, status, conclusion) for n in jobs]
            self.runs[run.id] = run
            return run

    def open_pulls(self) -> list[FakePull]:
        return [p for p in self.pulls.values() if p.state == "open"]

    def writes(self) -> list[Call]:
        """Every call that is not a read."""
        return [c for c in self.calls if c.method != "GET"]

    def html_url(self, number: int) -> str:
        return f"{self.server_url}/{self.repository}/pull/{number}"

    # -- the API ---------------------------------------------------------------------------

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        split = urlsplit(request.path)
        query = dict(parse_qsl(split.query))
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        api_path = split.path.removeprefix(API_PREFIX) or "/"
        prefix = f"/repos/{self.repository}/"
        in_repo = api_path.startswith(prefix)
        path = api_path[len(prefix) :] if in_repo else api_path
        # Both schemes GitHub accepts: contrail sends "Bearer", Octokit "token".
        scheme, _, credentials = (request.headers.get("Authorization") or "").partition(" ")
        with self._lock:
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body, status, answer = (
                    raw.decode(errors="replace"),
                    400,
                    _error("Problems parsing JSON"),
                )
            else:
                if scheme.lower() not in ("bearer", "token") or credentials != self.token:
                    status, answer = 401, _error("Bad credentials")
                elif api_path.startswith("/repos/") and not in_repo:
                    status, answer = 404, _error("Not Found")
                else:
                    status, answer = self._route(request.command, path, query, body)
            self.calls.append(Call(request.command, path, query, body, status))
        data = b"" if answer is None else json.dumps(answer).encode()
        request.send_response(status)
        if data:
            request.send_header("Content-Type", "application/json; charset=utf-8")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    def _route(self, method: str, path: str, query: dict[str, str], body: Any) -> Reply:
        if body is not None and not isinstance(body, dict):
            return 422, _error("Invalid request: the body is not a JSON object")
        for verb, pattern, answer in self._routes:
            if verb == method and (match := re.fullmatch(pattern, path)):
                return answer(*match.groups(), query=query, body=body or {})
        return 404, _error("Not Found")

    # pulls, labels, comments

    def _list_pulls(self, *, query: dict[str, str], **_: Any) -> Reply:
        state = query.get("state", "open")
        pulls = [p for p in self.pulls.values() if state == "all" or p.state == state]
        return 200, [self._pull_json(p) for p in _page(pulls, query)]

    def _create_pull(self, *, body: dict[str, Any], **_: Any) -> Reply:
        missing = [k for k in ("title", "head", "base") if not body.get(k)]
        if missing:
            return 422, _error(f"missing {', '.join(missing)}")
        if not self._branch_exists(body["head"]):
            return 422, _error(f"head {body['head']} is not a branch of {self.repository}")
        if any(p.head == body["head"] for p in self.open_pulls()):
            return 422, _error(f"A pull request already exists for {body['head']}.")
        number = max(self.pulls, default=0) + 1
        self.pulls[number] = FakePull(
            number, body["title"], body.get("body") or "", body["head"], body["base"]
        )
        return 201, self._pull_json(self.pulls[number])

    def _get_pull(self, number: str, **_: Any) -> Reply:
        pull = self.pulls.get(int(number))
        return (200, self._pull_json(pull)) if pull else (404, _error("Not Found"))

    def _update_pull(self, number: str, *, body: dict[str, Any], **_: Any) -> Reply:
        pull = self.pulls.get(int(number))
        if pull is None:
            return 404, _error("Not Found")
        if body.get("state", "open") not in ("open", "closed"):
            return 422, _error(f"state {body['state']!r} is not open or closed")
        for key in ("title", "body", "state"):
            if key in body:
                setattr(pull, key, body[key])
        return 200, self._pull_json(pull)

    def _add_labels(self, number: str, *, body: dict[str, Any], **_: Any) -> Reply:
        pull = self.pulls.get(int(number))
        if pull is None:
            return 404, _error("Not Found")
        pull.labels += [n for n in body.get("labels", []) if n not in pull.labels]
        return 200, [{"name": n} for n in pull.labels]

    def _list_comments(self, number: str, *, query: dict[str, str], **_: Any) -> Reply:
        pull = self.pulls.get(int(number))
        if pull is None:
            return 404, _error("Not Found")
        return 200, [self._comment_json(c) for c in _page(pull.thread, query)]

    def _create_comment(self, number: str, *, body: dict[str, Any], **_: Any) -> Reply:
        pull = self.pulls.get(int(number))
        if pull is None:
            return 404, _error("Not Found")
        if not isinstance(body.get("body"), str):
            return 422, _error("body is missing")
        comment = Comment(next(self._ids), pull.number, body["body"], self.login)
        pull.thread.append(comment)
        self._comments[comment.id] = comment
        return 201, self._comment_json(comment)

    def _update_comment(self, comment_id: str, *, body: dict[str, Any], **_: Any) -> Reply:
        comment = self._comments.get(int(comment_id))
        if comment is None:
            return 404, _error("Not Found")
        if not isinstance(body.get("body"), str):
            return 422, _error("body is missing")
        comment.body = body["body"]
        return 200, self._comment_json(comment)

    def _commit_pulls(self, sha: str, **_: Any) -> Reply:
        # GitHub: the PRs whose head is this commit (open or not); merged ones are not modelled.
        return 200, [self._pull_json(p) for p in self.pulls.values() if self._head_sha(p) == sha]

    # workflows, runs, jobs

    def _dispatch(self, workflow: str, *, body: dict[str, Any], **_: Any) -> Reply:
        ref = body.get("ref", "")
        if not self._branch_exists(ref):
            return 422, _error(f"No ref found for: {ref}")
        self.dispatches.append({"workflow": workflow, **body})
        return 204, None

    def _list_runs(self, workflow: str, *, query: dict[str, str], **_: Any) -> Reply:
        filters = {"head_sha": "head_sha", "branch": "head_branch", "event": "event"}
        runs = [
            r
            for r in sorted(self.runs.values(), key=lambda r: -r.id)  # newest first, as GitHub
            if r.workflow == workflow
            and all(getattr(r, attr) == query[key] for key, attr in filters.items() if key in query)
        ]
        page = [self._run_json(r) for r in _page(runs, query)]
        return 200, {"total_count": len(runs), "workflow_runs": page}

    def _get_run(self, run_id: str, **_: Any) -> Reply:
        run = self.runs.get(int(run_id))
        return (200, self._run_json(run)) if run else (404, _error("Not Found"))

    def _list_jobs(self, run_id: str, *, query: dict[str, str], **_: Any) -> Reply:
        run = self.runs.get(int(run_id))
        if run is None:
            return 404, _error("Not Found")
        # Attempts are not modelled: filter=latest and filter=all give the same jobs.
        jobs = [self._job_json(run, j) for j in _page(run.jobs, query)]
        return 200, {"total_count": len(run.jobs), "jobs": jobs}

    def _rerun_job(self, job_id: str, **_: Any) -> Reply:
        found = [(r, j) for r in self.runs.values() for j in r.jobs if j.id == int(job_id)]
        if not found:
            return 404, _error("Not Found")
        ((run, job),) = found
        if run.status != "completed":
            return 403, _error(f"The workflow run {run.id} is not completed")
        # GitHub queues the job again, and its run with it: the test decides how it ends.
        job.status = run.status = "queued"
        job.conclusion = run.conclusion = None
        self.reruns.append(job)
        return 201, {}

    def _get_user(self, login: str, **_: Any) -> Reply:
        return 200, {"login": login, "id": sum(map(ord, login)), "type": "User", "name": None}

    # -- payloads --------------------------------------------------------------------------

    def _branch_exists(self, branch: str) -> bool:
        return self.origin is None or bool(self._branch_sha(branch))

    def _branch_sha(self, branch: str) -> str:
        if self.origin is None:
            return ""
        done = subprocess.run(
            ["git", "--git-dir", str(self.origin), "rev-parse", "--verify", "--quiet",
             f"refs/heads/{branch}"],
            capture_output=True, text=True,
        )  # fmt: skip
        return done.stdout.strip() if done.returncode == 0 else ""

    def _head_sha(self, pull: FakePull) -> str:
        return self._branch_sha(pull.head) or pull.head_sha

    def _pull_json(self, pull: FakePull) -> dict[str, Any]:
        return {
            "number": pull.number,
            "state": pull.state,
            "title": pull.title,
            "body": pull.body,
            "head": {"ref": pull.head, "sha": self._head_sha(pull)},
            "base": {"ref": pull.base},
            "labels": [{"name": n} for n in pull.labels],
            "html_url": self.html_url(pull.number),
        }

    def _comment_json(self, comment: Comment) -> dict[str, Any]:
        return {
            "id": comment.id,
            "body": comment.body,
            "user": {"login": comment.user},
            "html_url": f"{self.html_url(comment.issue)}#issuecomment-{comment.id}",
        }

    def _run_json(self, run: FakeRun) -> dict[str, Any]:
        return {
            "id": run.id,
            "path": f".github/workflows/{run.workflow}",
            "head_sha": run.head_sha,
            "head_branch": run.head_branch,
            "event": run.event,
            "status": run.status,
            "conclusion": run.conclusion,
            "html_url": f"{self.server_url}/{self.repository}/actions/runs/{run.id}",
        }

    def _job_json(self, run: FakeRun, job: FakeJob) -> dict[str, Any]:
        return {
            "id": job.id,
            "run_id": run.id,
            "name": job.name,
            "head_sha": run.head_sha,
            "status": job.status,
            "conclusion": job.conclusion,
        }


class _TLSServer(ThreadingHTTPServer):
    """HTTPS, with each handshake in its request's thread: a stalled client blocks no other."""

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        context: ssl.SSLContext,
    ) -> None:
        super().__init__(address, handler)
        self.context = context

    def get_request(self) -> tuple[socket, Any]:
        sock, address = super().get_request()
        return self.context.wrap_socket(
            sock, server_side=True, do_handshake_on_connect=False
        ), address

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            request.do_handshake()
        except (ssl.SSLError, OSError):
            return  # the client refused the certificate or hung up: it reports that itself
        super().finish_request(request, client_address)


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, with its key; it is its own CA."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "7", "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert),
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-addext", "keyUsage=critical,digitalSignature,keyCertSign",
         "-addext", "extendedKeyUsage=serverAuth"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def _page(items: list[Any], query: dict[str, str]) -> list[Any]:
    """GitHub's pages: `per_page` (default 30, at most 100) and `page` from 1."""
    per_page = min(int(query.get("per_page", "30")), 100)
    start = (int(query.get("page", "1")) - 1) * per_page
    return items[start : start + per_page]


def _error(message: str) -> dict[str, str]:
    return {"message": message, "documentation_url": "https://docs.github.com/rest"}
