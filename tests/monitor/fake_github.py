"""A fake GitHub REST API on 127.0.0.1 for tests of `contrail.github` callers.

It implements just what the retraining loop calls, with in-memory pull-request state, and
records every call. Like GitHub it refuses what would fail there: a wrong token (401), an
unknown path or number (404), a second open PR for the same head branch, and, given the
bare `origin` repository, a PR or a workflow dispatch for a branch that was not pushed (422).
Point GITHUB_API_URL at `url`, with GITHUB_REPOSITORY=`repository`, GITHUB_TOKEN=`token`.

    with FakeGitHub(origin=bare_repo) as github:
        ...  # run the code under test
        github.open_pulls(), github.writes(), github.dispatches
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class Call:
    method: str
    # The path after /repos/{owner}/{name}/, e.g. "pulls" or "issues/3/labels".
    path: str
    query: dict[str, str]
    body: Any
    status: int


@dataclass
class FakePull:
    number: int
    title: str
    body: str
    head: str
    base: str
    state: str = "open"
    labels: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)


class FakeGitHub:
    def __init__(
        self,
        repository: str = "octo/flights",
        token: str = "test-token",
        origin: Path | None = None,
    ) -> None:
        self.repository, self.token, self.origin = repository, token, origin
        self.calls: list[Call] = []
        self.pulls: dict[int, FakePull] = {}
        self.dispatches: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> FakeGitHub:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._serve(self)

            def do_POST(self) -> None:
                fake._serve(self)

            def do_PATCH(self) -> None:
                fake._serve(self)

            def log_message(self, *_: object) -> None:  # keep pytest's output clean
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join()
            self._server = self._thread = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def env(self) -> dict[str, str]:
        """The variables `GitHub.from_env` reads, pointing at this fake."""
        return {
            "GITHUB_API_URL": self.url,
            "GITHUB_REPOSITORY": self.repository,
            "GITHUB_TOKEN": self.token,
        }

    # -- what the tests read ---------------------------------------------------------------

    def open_pulls(self) -> list[FakePull]:
        return [p for p in self.pulls.values() if p.state == "open"]

    def writes(self) -> list[Call]:
        """Every call that is not a read."""
        return [c for c in self.calls if c.method != "GET"]

    def html_url(self, number: int) -> str:
        return f"https://github.com/{self.repository}/pull/{number}"

    # -- the API ---------------------------------------------------------------------------

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        split = urlsplit(request.path)
        query = dict(parse_qsl(split.query))
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        prefix = f"/repos/{self.repository}/"
        path = split.path[len(prefix) :] if split.path.startswith(prefix) else split.path
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
                if request.headers.get("Authorization") != f"Bearer {self.token}":
                    status, answer = 401, _error("Bad credentials")
                elif not split.path.startswith(prefix):
                    status, answer = 404, _error("Not Found")
                else:
                    status, answer = self._route(request.command, path, query, body)
            self.calls.append(Call(request.command, path, query, body, status))
        data = b"" if answer is None else json.dumps(answer).encode()
        request.send_response(status)
        if data:
            request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    def _route(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        if method == "GET" and path == "pulls":
            state = query.get("state", "open")
            pulls = [p for p in self.pulls.values() if state == "all" or p.state == state]
            per_page = int(query.get("per_page", "30"))
            return 200, [self._pull_json(p) for p in pulls[:per_page]]
        if method == "POST" and path == "pulls":
            return self._create(body or {})
        if match := re.fullmatch(r"pulls/(\d+)", path):
            pull = self.pulls.get(int(match[1]))
            if pull is None:
                return 404, _error("Not Found")
            if method == "GET":
                return 200, self._pull_json(pull)
            if method == "PATCH":
                for key in ("title", "body", "state"):
                    if key in (body or {}):
                        setattr(pull, key, body[key])
                return 200, self._pull_json(pull)
        if match := re.fullmatch(r"issues/(\d+)/(labels|comments)", path):
            pull = self.pulls.get(int(match[1]))
            if pull is None:
                return 404, _error("Not Found")
            if method == "POST" and match[2] == "labels":
                pull.labels += [n for n in (body or {}).get("labels", []) if n not in pull.labels]
                return 200, [{"name": n} for n in pull.labels]
            if method == "POST" and match[2] == "comments":
                pull.comments.append(str((body or {}).get("body", "")))
                return 201, {"id": len(pull.comments), "body": pull.comments[-1]}
        if method == "POST" and (
            match := re.fullmatch(r"actions/workflows/([^/]+)/dispatches", path)
        ):
            ref = (body or {}).get("ref", "")
            if not self._branch_exists(ref):
                return 422, _error(f"No ref found for: {ref}")
            self.dispatches.append({"workflow": match[1], **(body or {})})
            return 204, None
        return 404, _error("Not Found")

    def _create(self, body: dict[str, Any]) -> tuple[int, Any]:
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

    def _branch_exists(self, branch: str) -> bool:
        if self.origin is None:
            return True
        done = subprocess.run(
            ["git", "--git-dir", str(self.origin), "rev-parse", "--verify", "--quiet",
             f"refs/heads/{branch}"],
            capture_output=True,
        )  # fmt: skip
        return done.returncode == 0

    def _pull_json(self, pull: FakePull) -> dict[str, Any]:
        return {
            "number": pull.number,
            "state": pull.state,
            "title": pull.title,
            "body": pull.body,
            "head": {"ref": pull.head},
            "base": {"ref": pull.base},
            "labels": [{"name": n} for n in pull.labels],
            "html_url": self.html_url(pull.number),
        }


def _error(message: str) -> dict[str, str]:
    return {"message": message}
