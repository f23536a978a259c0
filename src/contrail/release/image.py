"""Which reference `make push-image` records for the pushed image, pure: the repository's
name and the digest the *registry* stored, as the push itself reports it
(`contrail.transports.containers.push` returns the report).

Not `RepoDigests` from `image inspect`: podman lists a `repo@sha256:...` there as soon as an
image is tagged, the digest of its local manifest (uncompressed layers), while the push
compresses the layers and stores a new manifest, so pulling by that reference fails with
"manifest unknown". What the registry stored comes from the push:

- podman: `podman push --digestfile FILE` writes the digest alone;
- docker: `docker push` prints `<tag>: digest: sha256:<hex> size: <bytes>` once the manifest
  is stored (classic and containerd image stores alike).
"""

from __future__ import annotations

import re
from typing import Literal

from contrail.release.versions import ReleaseError

Backend = Literal["docker", "podman"]
BACKENDS: tuple[Backend, ...] = ("docker", "podman")

DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
# Docker's grammar, simplified: lowercase path components, the first may be a host:port.
_COMPONENT = r"[a-z0-9][a-z0-9._-]*"
_REPOSITORY = re.compile(rf"(?:{_COMPONENT}:[0-9]+/)?{_COMPONENT}(?:/{_COMPONENT})*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_PUSHED = re.compile(r"(?P<tag>\S+): digest: (?P<digest>\S+) size: \d+")


def check_backend(backend: str) -> Backend:
    if backend not in BACKENDS:
        raise ReleaseError(f"unknown container backend {backend!r}: use {' or '.join(BACKENDS)}")
    return backend


def repository(name: str) -> str:
    """`name` lowercased (registries refuse capitals, GitHub owners may have them), if it is
    a repository without tag or digest."""
    lowered = name.strip().lower()
    if not _REPOSITORY.fullmatch(lowered):
        raise ReleaseError(
            f"{name!r} is not an image repository like ghcr.io/owner/repo/flight-delay "
            "(no tag, no digest)"
        )
    return lowered


def check_tag(tag: str) -> str:
    if not _TAG.fullmatch(tag):
        raise ReleaseError(f"{tag!r} is not an image tag (letters, digits, _ . -, at most 128)")
    return tag


def _checked(digest: str, source: str) -> str:
    if not DIGEST.fullmatch(digest):
        raise ReleaseError(f"{source} gave {digest[:80]!r}, not a digest sha256:<64 hex>")
    return digest


def digest_from_file(text: str) -> str:
    """The digest in podman's `--digestfile`."""
    return _checked(text.strip(), "podman's digest file")


def digest_from_push_output(output: str, tag: str) -> str:
    """The digest `docker push` reports for `tag`; exactly one, or the push is not understood."""
    found = {
        match["digest"]
        for line in output.splitlines()
        if (match := _PUSHED.fullmatch(line.strip())) and match["tag"] == tag
    }
    if len(found) != 1:
        said = "no" if not found else f"{len(found)} different"
        raise ReleaseError(f"docker push printed {said} `{tag}: digest: ...` line(s)")
    return _checked(found.pop(), "docker push")


def pushed_digest(backend: Backend, report: str, tag: str) -> str:
    """The digest the registry stored for `tag`, from the push's report (see above)."""
    if backend == "podman":
        return digest_from_file(report)
    return digest_from_push_output(report, tag)


def reference(repo: str, digest: str) -> str:
    """`<repository>@sha256:<hex>`, what deploys pin and `contrail release register` records."""
    return f"{repository(repo)}@{_checked(digest, 'the push')}"
