"""Deploy decisions, pure: what a deploy of a version pins, what a stage tag means, and whether
a production canary survived its soak. `contrail.release.rollout` does the I/O (kubectl,
the scrapes) and asks these.

**Canary soak verdict.** The canary pod's Prometheus `/metrics` is scraped at the start of the
soak and again at each check; the verdict compares the two scrapes, so only requests served
*during* the soak count. BentoML counts every response in `bentoml_service_request_total` and
times it in `bentoml_service_request_duration_seconds` (a histogram), both labelled with
`endpoint` and `http_response_code`. Probe and metrics endpoints are left out.

- *error rate*: 5xx responses / all responses (a 4xx is the client's fault; a 503 from load
  shedding is the service's) must not exceed `max_error_rate`;
- *latency*: the p95 must be within `p95_budget_s`. It is bounded from above by the upper edge
  of the first histogram bucket holding 95% of the soak's requests (no interpolation: a
  conservative bound, easy to check by hand); a p95 in the `+Inf` bucket always fails;
- a counter that went *down* means the process restarted during the soak: fail;
- fewer than `min_requests` responses: fail when `min_requests` > 0 (no evidence); with the
  default 0 the canary passes on "no errors and no restarts" and says it saw no traffic.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from contrail.identity import MODEL_NAME, model_version
from contrail.release.versions import STAGES, ReleaseError, check_image

REQUEST_TOTAL = "bentoml_service_request_total"
DURATION_BUCKET = "bentoml_service_request_duration_seconds_bucket"
# Requests the canary answers for Kubernetes and Prometheus, not for users.
IGNORED_ENDPOINTS = frozenset({"/livez", "/readyz", "/healthz", "/metrics"})

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

Labels = tuple[tuple[str, str], ...]
Samples = dict[tuple[str, Labels], float]


@dataclass(frozen=True)
class DeployTarget:
    """What a deploy of `version` pins: the image by digest, and the model the service must
    report (`contrail smoke --expect-version`)."""

    version: str
    image: str
    model_version: str

    @property
    def repository(self) -> str:
        return self.image.split("@", 1)[0]

    @property
    def digest(self) -> str:
        return self.image.split("@", 1)[1]

    def outputs(self) -> dict[str, str]:
        """The `$GITHUB_OUTPUT` lines a workflow reads."""
        return {
            "version": self.version,
            "image": self.image,
            "repository": self.repository,
            "digest": self.digest,
            "model_version": self.model_version,
        }


def deploy_target(version: str, image: str, model_md5: str) -> DeployTarget:
    """The deploy of `version`, from its tag's record (image by digest, model md5)."""
    check_image(image)
    if not re.fullmatch(r"[0-9a-f]{32}", model_md5):
        raise ReleaseError(f"the tag of {version} records no model md5 ({model_md5!r})")
    return DeployTarget(version, image, model_version(model_md5))


@dataclass(frozen=True)
class StageTag:
    stage: str
    version: str


def parse_stage_tag(check_ref_json: str, tag: str) -> StageTag:
    """Stage and version from `gto check-ref <tag> --json` output; anything but an assignment
    of this artifact to a known stage is refused."""
    try:
        event: Any = json.loads(check_ref_json) if check_ref_json.strip() else None
    except json.JSONDecodeError:
        raise ReleaseError(f"gto check-ref {tag!r} printed no JSON") from None
    if not isinstance(event, dict) or event.get("event") != "assignment":
        raise ReleaseError(f"{tag!r} is not a stage assignment tag ({MODEL_NAME}#<stage>#<N>)")
    artifact, stage, version = event.get("artifact"), event.get("stage"), event.get("version")
    if artifact != MODEL_NAME:
        raise ReleaseError(f"{tag!r} assigns {artifact!r}, not {MODEL_NAME}")
    if stage not in STAGES:
        raise ReleaseError(f"{tag!r} assigns unknown stage {stage!r}")
    if not isinstance(version, str) or not version:
        raise ReleaseError(f"{tag!r} names no version")
    return StageTag(str(stage), version)


def parse_prometheus(text: str) -> Samples:
    """Samples of a Prometheus text exposition: {(name, sorted labels): value}."""
    samples: Samples = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match is None:
            raise ReleaseError(f"not a Prometheus sample: {line[:80]!r}")
        name, labels, value = match.groups()
        pairs = tuple(sorted(_LABEL.findall(labels or "")))
        try:
            samples[(name, pairs)] = float(value)
        except ValueError:
            raise ReleaseError(f"not a number in {line[:80]!r}") from None
    return samples


@dataclass(frozen=True)
class SoakPolicy:
    max_error_rate: float = 0.01
    p95_budget_s: float = 0.25
    min_requests: int = 0


@dataclass(frozen=True)
class SoakVerdict:
    ok: bool
    requests: float
    errors: float
    p95_upper_s: float | None
    reasons: tuple[str, ...] = field(default_factory=tuple)

    def line(self) -> str:
        rate = f"{self.errors / self.requests:.2%}" if self.requests else "n/a"
        p95 = "n/a" if self.p95_upper_s is None else f"<= {self.p95_upper_s * 1000:g} ms"
        head = "canary healthy" if self.ok else "canary failed"
        facts = f"{self.requests:g} requests, {self.errors:g} 5xx ({rate}), p95 {p95}"
        return f"{head}: {facts}" + (f"; {'; '.join(self.reasons)}" if self.reasons else "")


def _counted(labels: Labels) -> bool:
    return dict(labels).get("endpoint") not in IGNORED_ENDPOINTS


def _deltas(before: Samples, after: Samples, name: str) -> tuple[dict[Labels, float], bool]:
    """Per-series increase of counter `name` between the scrapes; True if one went down."""
    deltas: dict[Labels, float] = {}
    reset = False
    for (sample, labels), value in after.items():
        if sample != name or not _counted(labels):
            continue
        delta = value - before.get((sample, labels), 0.0)
        if delta < 0:
            reset = True
        deltas[labels] = delta
    # A series that vanished is a reset too (the process restarted and has not seen it yet).
    reset |= any(s == name and _counted(lb) and (s, lb) not in after for s, lb in before)
    return deltas, reset


def _p95_upper(buckets: dict[Labels, float]) -> float | None:
    by_le: dict[float, float] = {}
    for labels, delta in buckets.items():
        le = dict(labels).get("le")
        if le is None:
            continue
        bound = math.inf if le in ("+Inf", "Inf") else float(le)
        by_le[bound] = by_le.get(bound, 0.0) + delta
    total = by_le.get(math.inf, 0.0)
    if total <= 0:
        return None
    for bound in sorted(by_le):
        if by_le[bound] >= 0.95 * total:
            return bound
    return math.inf


def soak_verdict(before_text: str, after_text: str, policy: SoakPolicy) -> SoakVerdict:
    """Whether the canary stays: errors and latency of the requests it served between the two
    `/metrics` scrapes (see the module docstring)."""
    before, after = parse_prometheus(before_text), parse_prometheus(after_text)
    counts, reset = _deltas(before, after, REQUEST_TOTAL)
    buckets, bucket_reset = _deltas(before, after, DURATION_BUCKET)
    requests = sum(counts.values()) if not reset else 0.0
    errors = (
        sum(d for lb, d in counts.items() if dict(lb).get("http_response_code", "").startswith("5"))
        if not reset
        else 0.0
    )
    p95 = None if reset or bucket_reset else _p95_upper(buckets)
    reasons: list[str] = []
    if reset or bucket_reset:
        reasons.append("a request counter went down: the canary restarted during the soak")
    if requests and errors / requests > policy.max_error_rate:
        reasons.append(f"error rate above {policy.max_error_rate:.2%}")
    if p95 is not None and p95 > policy.p95_budget_s:
        reasons.append(f"p95 above the {policy.p95_budget_s * 1000:g} ms budget")
    if requests < policy.min_requests:
        reasons.append(f"fewer than {policy.min_requests} requests: not enough evidence")
    ok = not reasons
    if ok and not requests:
        reasons.append("no user requests reached it during the soak")
    return SoakVerdict(ok, requests, errors, p95, tuple(reasons))
