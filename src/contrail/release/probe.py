"""The deployed service over HTTP, as a rollout checks it: the smoke test (the checks of
`contrail smoke`, one line each) and a scrape of its Prometheus /metrics."""

from __future__ import annotations

import httpx

from contrail.release.rollout import DeployFailed
from contrail.serving import smoke as checks

SCRAPE_TIMEOUT_S = 10.0


def smoke(url: str, expect_version: str | None, ready_timeout_s: float) -> None:
    """Run the smoke checks against `url`, printing each; DeployFailed at the first failure."""
    client = checks.client_for(url)
    run = checks.Smoke(client, expect_version=expect_version, ready_timeout_s=ready_timeout_s)
    passed = 0
    with client:
        for result in checks.run_checks(run):
            if not result.ok:
                raise DeployFailed(f"smoke failed at {result.name}: {result.detail}")
            print(result.line(), flush=True)
            passed += 1
    print(f"smoke passed: {passed} checks against {client.base_url}", flush=True)


def scrape(url: str) -> str:
    """The text of `url`/metrics; DeployFailed if the service does not answer it with 2xx
    (a canary that stopped answering has failed)."""
    try:
        response = httpx.get(f"{url}/metrics", timeout=SCRAPE_TIMEOUT_S)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise DeployFailed(f"cannot scrape {url}/metrics: {exc}") from None
    return response.text
