"""A loopback proxy in front of act's artifact server, for actions/upload-artifact v7.

act 0.2.89's artifact service (the v4 "results" API) rejects two things the pinned
upload/download-artifact send: the `mime_type` field of CreateArtifact, and a `sig` query
parameter whose base64 padding the Azure blob client dropped. The proxy removes the one and
pads the other; everything else passes through unchanged. The signed URLs act answers with
are rewritten to point back at the proxy, so the blob upload and download pass it too.
Point the run's ACTIONS_RESULTS_URL at `url`.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from support.loopback import Serving, handler

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class ArtifactProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler(self._forward))
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"

    def __enter__(self) -> ArtifactProxy:
        self._serving = Serving(self._server)
        return self

    def __exit__(self, *_: object) -> None:
        self._serving.stop()

    def _forward(self, incoming: BaseHTTPRequestHandler) -> None:
        length = int(incoming.headers.get("Content-Length") or 0)
        body = incoming.rfile.read(length) if length else b""
        if incoming.path.endswith("/CreateArtifact") and body:
            fields = json.loads(body)
            fields.pop("mime_type", None)
            body = json.dumps(fields).encode()
        parts = urlsplit(incoming.path)
        query = [(k, _padded(v) if k == "sig" else v) for k, v in parse_qsl(parts.query)]
        target = self.upstream + urlunsplit(("", "", parts.path, urlencode(query), ""))
        headers = {k: v for k, v in incoming.headers.items() if k.lower() not in HOP_BY_HOP}
        request = urllib.request.Request(
            target,
            data=body if body or incoming.command in ("POST", "PUT") else None,
            method=incoming.command,
            headers=headers,
        )
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                status, reply, reply_headers = response.status, response.read(), response.headers
        except urllib.error.HTTPError as exc:
            status, reply, reply_headers = exc.code, exc.read(), exc.headers
        reply = reply.replace(self.upstream.encode(), self.url.rstrip("/").encode())
        incoming.send_response(status)
        for key, value in reply_headers.items():
            if key.lower() not in HOP_BY_HOP:
                incoming.send_header(key, value)
        incoming.send_header("Content-Length", str(len(reply)))
        incoming.end_headers()
        if incoming.command != "HEAD":
            incoming.wfile.write(reply)


def _padded(sig: str) -> str:
    return sig + "=" * (-len(sig) % 4)
