"""A loopback npm registry for the `@dvcorg` scope only, serving CML from shared/.

The registry reachable here does not serve `@dvcorg/cml`; shared/npm/ holds its 0.20.6
tarball, packed from the tag. Routing only the scope here (`.npmrc`:
`@dvcorg:registry=<url>/`) keeps every dependency coming from the normal registry, so
`npm install --global @dvcorg/cml@0.20.6`, the workflow's own step, runs unchanged.

    with NpmRegistry() as registry:
        registry.write_npmrc(tmp / ".npmrc")  # then npm_config_userconfig=tmp/.npmrc
"""

from __future__ import annotations

import base64
import hashlib
import json
import tarfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from support.loopback import Serving, handler

# CI runs on a fresh clone with shared/ beside it (read-only), as on a developer's machine.
SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CML_TARBALL = SHARED / "npm" / "dvcorg-cml-0.20.6.tgz"
SCOPE = "@dvcorg"


class NpmRegistry:
    """Packuments and tarballs for the given `@dvcorg` package tarballs; 404 for the rest."""

    def __init__(self, tarballs: tuple[Path, ...] = (CML_TARBALL,)) -> None:
        self.tarballs = tarballs
        self.requests: list[tuple[str, int]] = []  # (path, status), in order
        self._packages: dict[str, dict[str, Any]] = {}  # name -> {version: (manifest, file)}
        self._serving: Serving | None = None

    def __enter__(self) -> NpmRegistry:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> None:
        for tarball in self.tarballs:
            manifest = _package_json(tarball)
            if not manifest["name"].startswith(f"{SCOPE}/"):
                raise ValueError(f"{tarball}: {manifest['name']} is not in the {SCOPE} scope")
            self._packages.setdefault(manifest["name"], {})[manifest["version"]] = (
                manifest,
                tarball,
            )
        self._serving = Serving(ThreadingHTTPServer(("127.0.0.1", 0), handler(self._serve)))

    def stop(self) -> None:
        if self._serving is not None:
            self._serving.stop()
            self._serving = None

    @property
    def url(self) -> str:
        assert self._serving is not None, "start() the registry first"
        return f"http://{self._serving.address}"

    def write_npmrc(self, path: Path) -> Path:
        """An npm user config routing the scope here; pass it as `npm_config_userconfig`."""
        path.write_text(f"{SCOPE}:registry={self.url}/\n")
        return path

    # -- the registry API ------------------------------------------------------------------

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        # npm asks for "/@dvcorg%2fcml"; a person typing the URL asks for "/@dvcorg/cml".
        path = unquote(urlsplit(request.path).path)
        status, data, kind = 404, json.dumps({"error": "Not found"}).encode(), "application/json"
        name, _, rest = path.lstrip("/").partition("/-/")
        if name in self._packages and not rest:
            status, data = 200, json.dumps(self._packument(name)).encode()
        elif name in self._packages:
            for _manifest, tarball in self._packages[name].values():
                if rest == tarball.name:
                    status, data, kind = 200, tarball.read_bytes(), "application/octet-stream"
        self.requests.append((path, status))
        request.send_response(status)
        request.send_header("Content-Type", kind)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    def _packument(self, name: str) -> dict[str, Any]:
        versions = {}
        for version, (manifest, tarball) in self._packages[name].items():
            data = tarball.read_bytes()
            versions[version] = {
                **manifest,
                "_id": f"{name}@{version}",
                "dist": {
                    "tarball": f"{self.url}/{name}/-/{tarball.name}",
                    "shasum": hashlib.sha1(data).hexdigest(),
                    "integrity": "sha512-"
                    + base64.b64encode(hashlib.sha512(data).digest()).decode(),
                },
            }
        latest = list(versions)[-1]  # the version of the last tarball given
        return {"_id": name, "name": name, "dist-tags": {"latest": latest}, "versions": versions}


def _package_json(tarball: Path) -> dict[str, Any]:
    """The manifest npm resolves dependencies and `bin` links from, as packed."""
    with tarfile.open(tarball) as archive:
        member = archive.extractfile("package/package.json")
        assert member is not None, f"{tarball} has no package/package.json"
        return dict(json.load(member))
