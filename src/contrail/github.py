"""Plain GitHub REST calls with the workflow's token: the only GitHub transport in contrail.

urllib, so a job needs nothing installed for it. Callers decide (pure functions with tests);
this module only sends what they decided. `GITHUB_API_URL` points it at a fake in tests.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class GitHubError(RuntimeError):
    """A GitHub API call failed; the message names the call."""


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
