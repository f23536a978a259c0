"""A real OCI registry on loopback for tests: Debian's `docker-registry` (distribution 2.x),
plain http on a free 127.0.0.1 port, filesystem storage in a temporary folder.

    with OciRegistry(tmp_path) as registry:
        env = {"CONTAINERS_REGISTRIES_CONF": str(registry.registries_conf)}
        ...push to f"{registry.host}/octo/flights/flight-delay:TAG" with that env...
        registry.digest("octo/flights/flight-delay", "TAG")

`registries_conf` marks the registry `insecure = true` for podman, skopeo and buildah (what
`CONTAINERS_REGISTRIES_CONF` points at); docker treats 127.0.0.0/8 as insecure by itself.
`digest()` reads the registry's own answer over its HTTP API, independently of any engine.
In a test, use the `oci_registry` fixture (import it into the test module or a conftest): it
skips when `docker-registry` is not installed.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Self

import pytest

from support.loopback import free_port

BINARY = "docker-registry"
# Every manifest type, so that the registry serves what it stored instead of converting it.
MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)


class OciRegistry:
    """`docker-registry serve` with its config, data and log under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.registries_conf = root / "registries.conf"
        self.log = root / "registry.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        """`127.0.0.1:PORT`, the registry part of an image reference."""
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> Self:
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: warn\n  accesslog:\n    disabled: true\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.root / 'data'}\n"
            "  delete:\n    enabled: true\n"
            f"http:\n  addr: {self.host}\n"
        )
        self.registries_conf.write_text(
            f'[[registry]]\nlocation = "{self.host}"\ninsecure = true\n'
        )
        with self.log.open("wb") as log:
            self._process = subprocess.Popen(
                [BINARY, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"{BINARY} exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://{self.host}/v2/", timeout=2):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{BINARY} did not answer on {self.host} within {timeout} s")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def digest(self, name: str, tag: str) -> str:
        """The digest of the manifest the registry serves for `name:tag`: sha256 of the bytes
        it sends, checked against its Docker-Content-Digest header. KeyError when it has none."""
        request = urllib.request.Request(
            f"http://{self.host}/v2/{name}/manifests/{tag}", headers={"Accept": MANIFEST_TYPES}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                body, header = response.read(), response.headers["Docker-Content-Digest"]
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                raise KeyError(f"{self.host}/{name}:{tag}") from None
            raise
        digest = f"sha256:{hashlib.sha256(body).hexdigest()}"
        if header != digest:
            raise AssertionError(
                f"the registry says {header} for a manifest whose sha256 is {digest}"
            )
        return digest


@pytest.fixture
def oci_registry(tmp_path: Path) -> Iterator[OciRegistry]:
    """A running registry for one test; skipped when `docker-registry` is not installed."""
    if shutil.which(BINARY) is None:
        pytest.skip(f"{BINARY} is not installed (Debian: apt-get install docker-registry)")
    with OciRegistry(tmp_path / "registry") as registry:
        yield registry
