"""The deploy decisions (`contrail.release.deploy`): the canary soak verdict from two /metrics
scrapes worked out by hand, stage tags as GTO reports them, what a deploy pins; and the CLI
options the workflows read (`--github-output`, `stage-tag`, `canary-verdict`)."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from support.release_repo import PipelineRepo, image
from typer.testing import CliRunner

from contrail.cli import app
from contrail.release.deploy import (
    SoakPolicy,
    deploy_target,
    parse_prometheus,
    parse_stage_tag,
    soak_verdict,
)
from contrail.release.versions import ReleaseError

runner = CliRunner()

HEAD = """\
# HELP bentoml_service_request_total Total number of HTTP requests
# TYPE bentoml_service_request_total counter
"""


def scrape(
    ok: float,
    errors: float,
    buckets: dict[str, float],
    error_buckets: dict[str, float],
    probes: float = 0,
) -> str:
    """A BentoML /metrics page: /predict 200s and 500s with their duration histograms, and
    /livez probes (which must not count)."""
    lines = [HEAD.rstrip("\n")]
    common = 'service_name="flight-delay",service_version="abc"'
    lines.append(
        f'bentoml_service_request_total{{endpoint="/predict",{common},http_response_code="200"}} {ok}'
    )
    lines.append(
        f'bentoml_service_request_total{{endpoint="/predict",{common},http_response_code="500"}} '
        f"{errors}"
    )
    # Probes: many, all failing, all slow; left out of every figure.
    lines.append(
        f'bentoml_service_request_total{{endpoint="/livez",{common},http_response_code="503"}} '
        f"{probes}"
    )
    for code, series in (("200", buckets), ("500", error_buckets)):
        for le, count in series.items():
            lines.append(
                "bentoml_service_request_duration_seconds_bucket"
                f'{{endpoint="/predict",{common},http_response_code="{code}",le="{le}"}} {count}'
            )
    lines.append(
        "bentoml_service_request_duration_seconds_bucket"
        f'{{endpoint="/livez",{common},http_response_code="503",le="+Inf"}} {probes}'
    )
    return "\n".join(lines) + "\n"


# Before the soak: 100 OK /predict, 1 error.
BEFORE = scrape(
    100, 1, {"0.05": 80, "0.1": 95, "0.25": 100, "+Inf": 100}, {"0.05": 1, "0.1": 1, "+Inf": 1}
)


def after(errors: float, fast_errors: bool = True, probes: float = 500) -> str:
    """200 more OK requests: 100 under 50 ms, 95 more under 100 ms, 5 more under 250 ms."""
    error_buckets = (
        {"0.05": errors, "0.1": errors, "+Inf": errors}
        if fast_errors
        else {"0.05": 1, "0.1": 1, "+Inf": errors}
    )
    return scrape(
        300,
        errors,
        {"0.05": 180, "0.1": 290, "0.25": 300, "+Inf": 300},
        error_buckets,
        probes=probes,
    )


def test_healthy_soak_counts_only_the_soaks_user_requests() -> None:
    # During the soak: 200 OK + 2 errors = 202 requests; 2/202 = 0.99% <= 1%.
    # Cumulative buckets of the deltas: <=50 ms 100 + 2 = 102, <=100 ms 195 + 2 = 197,
    # <=250 ms 202. 95% of 202 is 191.9: the first bucket holding it is 100 ms.
    verdict = soak_verdict(BEFORE, after(errors=3), SoakPolicy())

    assert verdict.ok, verdict.line()
    assert (verdict.requests, verdict.errors, verdict.p95_upper_s) == (202, 2, 0.1)
    assert verdict.line() == "canary healthy: 202 requests, 2 5xx (0.99%), p95 <= 100 ms"


def test_too_many_errors_fail_the_canary() -> None:
    # 5 more errors: 5/205 = 2.4% > 1%.
    verdict = soak_verdict(BEFORE, after(errors=6), SoakPolicy())

    assert not verdict.ok
    assert (verdict.requests, verdict.errors) == (205, 5)
    assert verdict.reasons == ("error rate above 1.00%",)
    # A looser policy accepts it.
    assert soak_verdict(BEFORE, after(errors=6), SoakPolicy(max_error_rate=0.03)).ok


def test_a_slow_p95_fails_the_canary() -> None:
    # Budget 50 ms: the p95 bound is 100 ms.
    verdict = soak_verdict(BEFORE, after(errors=3), SoakPolicy(p95_budget_s=0.05))
    assert not verdict.ok
    assert verdict.reasons == ("p95 above the 50 ms budget",)

    # Errors that took longer than any bucket: 200 + 30 requests, 30 of them only in +Inf;
    # <=250 ms holds 200 + 1 = 201 < 95% of 230 (218.5): the p95 is unbounded.
    slow = soak_verdict(BEFORE, after(errors=31, fast_errors=False), SoakPolicy(max_error_rate=1))
    assert slow.p95_upper_s == math.inf
    assert slow.reasons == ("p95 above the 250 ms budget",)


def test_a_restart_during_the_soak_fails_the_canary() -> None:
    restarted = scrape(5, 0, {"0.05": 5, "0.1": 5, "0.25": 5, "+Inf": 5}, {"+Inf": 0})

    verdict = soak_verdict(BEFORE, restarted, SoakPolicy())

    assert not verdict.ok
    assert verdict.reasons[0].startswith("a request counter went down")


def test_no_traffic_passes_unless_evidence_is_required() -> None:
    quiet = soak_verdict(BEFORE, BEFORE, SoakPolicy())
    assert quiet.ok
    assert quiet.p95_upper_s is None
    assert quiet.line() == (
        "canary healthy: 0 requests, 0 5xx (n/a), p95 n/a; "
        "no user requests reached it during the soak"
    )

    strict = soak_verdict(BEFORE, BEFORE, SoakPolicy(min_requests=10))
    assert not strict.ok
    assert strict.reasons == ("fewer than 10 requests: not enough evidence",)


def test_prometheus_text_parsing() -> None:
    text = (
        "# TYPE x counter\n"
        'x_total{a="1",b="q\\"uote"} 3 1700000000000\n'
        "up 1\n"
        'h_bucket{le="+Inf"} 2.5e1\n'
    )
    assert parse_prometheus(text) == {
        ("x_total", (("a", "1"), ("b", 'q\\"uote'))): 3.0,
        ("up", ()): 1.0,
        ("h_bucket", (("le", "+Inf"),)): 25.0,
    }
    with pytest.raises(ReleaseError, match="not a Prometheus sample"):
        parse_prometheus("<html>oops</html>\n")


GTO_ASSIGNMENT = {
    "artifact": "flight-delay",
    "tag": "flight-delay#production#7",
    "version": "v1.2.0",
    "stage": "production",
    "event": "assignment",
}


def test_stage_tags_are_read_from_gto_check_ref() -> None:
    parsed = parse_stage_tag(json.dumps(GTO_ASSIGNMENT), "flight-delay#production#7")
    assert (parsed.stage, parsed.version) == ("production", "v1.2.0")

    registration = {**GTO_ASSIGNMENT, "event": "registration"}
    for output, message in [
        ("", "not a stage assignment tag"),  # gto prints nothing for a name it cannot parse
        ("not json", "printed no JSON"),
        (json.dumps(registration), "not a stage assignment tag"),
        (json.dumps({**GTO_ASSIGNMENT, "artifact": "other"}), "assigns 'other'"),
        (json.dumps({**GTO_ASSIGNMENT, "stage": "qa"}), "unknown stage 'qa'"),
    ]:
        with pytest.raises(ReleaseError, match=message):
            parse_stage_tag(output, "t")


def test_a_deploy_pins_the_image_by_digest_and_the_model_version() -> None:
    target = deploy_target("v1.2.0", image(7), "0123456789abcdef" * 2)
    assert target.outputs() == {
        "version": "v1.2.0",
        "image": image(7),
        "repository": "ghcr.io/owner/contrail/flight-delay",
        "digest": f"sha256:{7:064x}",
        "model_version": "0123456789abcdef",
    }
    with pytest.raises(ReleaseError):
        deploy_target("v1.2.0", "ghcr.io/owner/contrail/flight-delay:latest", "0" * 32)
    with pytest.raises(ReleaseError, match="no model md5"):
        deploy_target("v1.2.0", image(7), "abc")


def contrail(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output.strip()


def test_workflow_outputs_of_register_rollback_target_and_stage_tag(
    repo: PipelineRepo, tmp_path: Path
) -> None:
    out = tmp_path / "github_output"
    repo.commit("1" * 32)
    contrail(
        "release", "register", "--image-digest", image(1), "--push", "--github-output", f"{out}"
    )
    assert out.read_text() == "version=v1.0.0\n"
    # A re-run on the same commit: its version again (the deploy can be retried).
    contrail("release", "register", "--image-digest", image(1), "--github-output", f"{out}")
    assert out.read_text() == "version=v1.0.0\n" * 2
    # An unchanged model on a new commit: no version, nothing to deploy.
    out.unlink()
    repo.commit("1" * 32, message="docs")
    contrail("release", "register", "--image-digest", image(2), "--github-output", f"{out}")
    assert not out.exists()

    args = ["--stage", "staging", "--version", "v1.0.0", "--github-output", f"{out}"]
    assert contrail("release", "rollback-target", *args) == f"v1.0.0 {image(1)}"
    assert out.read_text().splitlines() == [
        "version=v1.0.0",
        f"image={image(1)}",
        "repository=ghcr.io/owner/contrail/flight-delay",
        f"digest=sha256:{1:064x}",
        "model_version=" + "1" * 16,
    ]

    out.unlink()
    assert contrail("release", "assign", "--stage", "staging", "--version", "v1.0.0").endswith(
        "flight-delay#staging#1"
    )
    tag = "flight-delay#staging#1"
    assert contrail("release", "stage-tag", tag, "--github-output", f"{out}") == "staging v1.0.0"
    assert out.read_text() == "stage=staging\nversion=v1.0.0\n"
    assert contrail("release", "stage-tag", "flight-delay@v1.0.0", code=1) == (
        "contrail release stage-tag: 'flight-delay@v1.0.0' is not a stage assignment tag "
        "(flight-delay#<stage>#<N>)"
    )


def test_canary_verdict_command(tmp_path: Path) -> None:
    before, now = tmp_path / "before", tmp_path / "after"
    before.write_text(BEFORE)
    now.write_text(after(errors=3))
    files = ["--before", str(before), "--after", str(now)]

    assert contrail("release", "canary-verdict", *files).startswith("canary healthy: 202 requests")
    assert contrail("release", "canary-verdict", *files, "--p95-budget-ms", "50", code=1) == (
        "canary failed: 202 requests, 2 5xx (0.99%), p95 <= 100 ms; p95 above the 50 ms budget"
    )
    missing = ["--before", str(tmp_path / "nope"), "--after", str(now)]
    assert contrail("release", "canary-verdict", *missing, code=1).startswith(
        "contrail release canary-verdict: cannot read a scrape"
    )


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl renders the manifests")
def test_the_canary_is_one_pod_of_the_new_digest_behind_the_stable_service() -> None:
    project = Path(__file__).resolve().parents[2]
    digest = "sha256:" + "c" * 64
    rendered = subprocess.run(
        [str(project / "deploy/render.sh"), "canary", digest, "ghcr.io/o/r/flight-delay"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (canary,) = list(yaml.safe_load_all(rendered))  # nothing of stable's: no Service, HPA, ...
    production = subprocess.run(
        ["kubectl", "kustomize", str(project / "deploy/overlays/production")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    objects = {d["kind"]: d for d in yaml.safe_load_all(production)}
    service, stable = objects["Service"], objects["Deployment"]

    assert (canary["kind"], canary["metadata"]["name"]) == ("Deployment", "flight-delay-canary")
    assert canary["metadata"]["namespace"] == stable["metadata"]["namespace"]
    assert canary["spec"]["replicas"] == 1
    labels = canary["spec"]["template"]["metadata"]["labels"]
    assert canary["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "flight-delay",
        "track": "canary",
    }
    assert labels["track"] == "canary"
    # The Service routes to it; stable's selector does not adopt it.
    assert service["spec"]["selector"].items() <= labels.items()
    assert not stable["spec"]["selector"]["matchLabels"].items() <= labels.items()
    (container,) = canary["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"ghcr.io/o/r/flight-delay@{digest}"
    # Everything else is the production pod: same probes, limits, security context.
    stable_pod, canary_pod = stable["spec"]["template"]["spec"], canary["spec"]["template"]["spec"]
    assert {**canary_pod, "containers": None} == {**stable_pod, "containers": None}
