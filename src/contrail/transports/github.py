"""GitHub's REST API with the workflow's token: the only module that calls GitHub.

urllib, so a job needs nothing installed for it. Callers decide (pure functions with tests);
this module only sends what they decided and reads GitHub's answers into plain records.
`GITHUB_API_URL` points it at a fake in tests.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


class GitHubError(RuntimeError):
    """A GitHub API call failed; the message names the call."""


@dataclass(frozen=True)
class PullRequest:
    number: int
    head_sha: str
    labels: tuple[str, ...] = ()
    # The branch it targets, and its own (head) branch.
    base: str = ""
    branch: str = ""
    url: str = ""

    @classmethod
    def from_api(cls, payload: Mapping[str, Any]) -> PullRequest:
        head = payload["head"]
        return cls(
            number=int(payload["number"]),
            head_sha=str(head["sha"]),
            labels=tuple(str(label["name"]) for label in payload.get("labels", [])),
            base=str(payload.get("base", {}).get("ref", "")),
            branch=str(head["ref"]),
            url=str(payload["html_url"]),
        )


@dataclass(frozen=True)
class GitHub:
    api_url: str
    repository: str
    token: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GitHub | None:
        """The Actions run's API, repository and token, or None outside GitHub Actions."""
        token = env.get("GITHUB_TOKEN", "")
        repository = env.get("GITHUB_REPOSITORY", "")
        if not token or not repository:
            return None
        return cls(env.get("GITHUB_API_URL", "https://api.github.com"), repository, token)

    def call(
        self,
        method: str,
        path: str,
        query: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        """One REST call under the repository (`path` after `/repos/{owner}/{name}/`)."""
        import urllib.error
        import urllib.parse
        import urllib.request

        url = f"{self.api_url}/repos/{self.repository}/{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        request = urllib.request.Request(
            url,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={
                "Accept": "application/vnd.github+json",
                "Authorization": f"Bearer {self.token}",
                "X-GitHub-Api-Version": "2022-11-28",
                **({} if body is None else {"Content-Type": "application/json"}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                answer = response.read()
        except urllib.error.HTTPError as exc:
            raise GitHubError(f"{method} {path}: HTTP {exc.code} {exc.reason}") from None
        except urllib.error.URLError as exc:
            raise GitHubError(f"{method} {path}: {exc.reason}") from None
        return json.loads(answer) if answer else None

    # --- pull requests ---------------------------------------------------------------------

    def open_pulls(self) -> list[PullRequest]:
        return [
            PullRequest.from_api(payload)
            for payload in self.call("GET", "pulls", {"state": "open", "per_page": "100"})
        ]

    def create_pull(self, *, title: str, head: str, base: str, body: str) -> PullRequest:
        payload = {"title": title, "head": head, "base": base, "body": body}
        return PullRequest.from_api(self.call("POST", "pulls", body=payload))

    def edit_pull(self, number: int, *, title: str, body: str) -> None:
        self.call("PATCH", f"pulls/{number}", body={"title": title, "body": body})

    def close_pull(self, number: int) -> None:
        self.call("PATCH", f"pulls/{number}", body={"state": "closed"})

    def add_labels(self, number: int, labels: list[str]) -> None:
        self.call("POST", f"issues/{number}/labels", body={"labels": labels})

    def comment(self, number: int, body: str) -> None:
        self.call("POST", f"issues/{number}/comments", body={"body": body})

    def current_pull(self, number: str, sha: str) -> PullRequest | None:
        """The pull request as it is now: by number, or (a dispatch run) the open one whose
        head is `sha`; None when there is none."""
        if number:
            return PullRequest.from_api(self.call("GET", f"pulls/{number}"))
        for payload in self.call("GET", f"commits/{sha}/pulls"):
            if payload.get("state") == "open" and payload["head"]["sha"] == sha:
                return PullRequest.from_api(payload)
        return None

    # --- workflow runs ---------------------------------------------------------------------

    def dispatch(self, workflow: str, ref: str, inputs: Mapping[str, str]) -> None:
        body = {"ref": ref, "inputs": dict(inputs)}
        self.call("POST", f"actions/workflows/{workflow}/dispatches", body=body)

    def rerun_job(
        self,
        head_sha: str,
        *,
        workflow: str,
        job_name: str,
        wait_seconds: float,
        poll_seconds: float = 20.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> str:
        """Re-run one job of the newest `workflow` run for `head_sha` (never its other jobs),
        after waiting for the run to finish; returns what was done, for the log."""
        runs = self.call(
            "GET", f"actions/workflows/{workflow}/runs", {"head_sha": head_sha, "per_page": "20"}
        )["workflow_runs"]
        if not runs:
            return f"no {workflow} run for {head_sha[:12]} yet: its gate will read the labels"
        run = max(runs, key=lambda r: int(r["id"]))
        waited = 0.0
        while run["status"] != "completed":
            if waited >= wait_seconds:
                raise GitHubError(f"run {run['id']} still {run['status']} after {waited:.0f} s")
            sleep(poll_seconds)
            waited += poll_seconds
            run = self.call("GET", f"actions/runs/{run['id']}")
        jobs = self.call("GET", f"actions/runs/{run['id']}/jobs", {"filter": "latest"})["jobs"]
        job = next((j for j in jobs if j["name"] == job_name), None)
        if job is None:
            raise GitHubError(f"run {run['id']} has no job named {job_name!r}")
        self.call("POST", f"actions/jobs/{job['id']}/rerun")
        return f"re-running {job_name!r} of run {run['id']} ({head_sha[:12]}): no retraining"
