"""The service image on its way out: smoke-tested as a container on this machine (nothing is
pushed before it passes), then pushed and recorded by the digest the registry stored.

The container engine is a parameter (`contrail.transports.containers`), so tests pass a fake.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Mapping
from typing import Protocol

from contrail.release import image as images
from contrail.release.rollout import Smoke, local_url
from contrail.transports.containers import ContainerError

IMAGE_READY_TIMEOUT_S = 180.0
LOG_TAIL_LINES = 40


class Containers(Protocol):
    """What smoking and pushing the image need of the engine."""

    def tag(self, engine: str, source: str, target: str) -> None: ...
    def push(self, engine: str, target: str) -> str: ...
    def run_detached(self, engine: str, name: str, image: str, env: Mapping[str, str]) -> None: ...
    def logs(self, engine: str, name: str) -> str: ...
    def stop(self, engine: str, name: str) -> None: ...


def push_image(containers: Containers, backend: str, image: str, repository: str, tag: str) -> str:
    """Push local `image` as `repository:tag`; its reference `<repository>@sha256:...` by the
    digest the push reports (never `RepoDigests`: see contrail.release.image)."""
    engine = images.check_backend(backend)
    repo = images.repository(repository)
    target = f"{repo}:{images.check_tag(tag)}"
    containers.tag(engine, image, target)
    digest = images.pushed_digest(engine, containers.push(engine, target), tag)
    return images.reference(repo, digest)


def smoke_image(containers: Containers, smoke: Smoke, backend: str, image: str, port: int) -> None:
    """Run `image` on 127.0.0.1:`port`, smoke-test it, stop it; on a failure its last log
    lines go to stderr. Host networking with the port through the environment (the image's
    entrypoint turns PORT into BENTOML_PORT): podman here has no other networking and ignores
    --publish; docker on a Linux runner runs it the same way. BENTOML_HOST keeps it on
    loopback."""
    engine = images.check_backend(backend)
    name = f"contrail-smoke-{os.getpid()}"
    containers.run_detached(engine, name, image, {"PORT": str(port), "BENTOML_HOST": "127.0.0.1"})
    try:
        smoke(local_url(port), None, IMAGE_READY_TIMEOUT_S)
    except BaseException:
        with contextlib.suppress(ContainerError):
            logs = containers.logs(engine, name).splitlines()[-LOG_TAIL_LINES:]
            print("\n".join(logs), file=sys.stderr)
        raise
    finally:
        containers.stop(engine, name)
