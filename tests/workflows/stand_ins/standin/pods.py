"""Deployments as real pods: `podman kube play` of an edited copy of the applied Deployment.

Podman here has host networking only (port mappings are refused), so the played copy gets
`hostNetwork: true`, no container `ports:`, `PORT` (which BentoML's entrypoint turns into
BENTOML_PORT) set to a free port, and its probes pointed at that port. Everything else (image,
securityContext, volumes, env, command) is played as applied. One pod per Deployment, whatever
its replicas: enough to prove the image and the manifest and to smoke-test the service.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import socket
import socketserver
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from standin.cluster import Cluster
from standin.core import Fail, write_json

# The alphabet of the suffixes Kubernetes generates for ReplicaSet and pod names.
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
PROBES = ("startupProbe", "readinessProbe", "livenessProbe")


class PullError(Exception):
    """The node cannot get an image: the pod stays Pending, the rollout never completes."""


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["podman", *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise Fail(f"stand-in: podman {' '.join(args)} failed: {result.stderr.strip()}")
    return result


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def normalize(reference: str) -> str:
    """The full name a container runtime stores for a reference (docker.io/library/x:latest)."""
    name, at, digest = reference.partition("@")
    first, slash, _ = name.partition("/")
    if not slash or ("." not in first and ":" not in first and first != "localhost"):
        name = f"docker.io/{name}" if slash else f"docker.io/library/{name}"
    if not at and ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    return f"{name}{at}{digest}"


def image_id(reference: str) -> str | None:
    found = podman("image", "inspect", "--format", "{{.Id}}", reference, check=False)
    return found.stdout.strip() if found.returncode == 0 else None


def node_image(cluster: Cluster, reference: str) -> tuple[str, bool]:
    """The image ID a node runs for `reference`, and whether the node had to pull it.

    A kind node has only what `kind load` gave it (or what it pulls); any other cluster's nodes
    are this machine: a local image is used, anything else pulled (a digest-pinned reference
    from the registry CONTAINERS_REGISTRIES_CONF configures).
    """
    images = cluster.node_images()
    if images is None:
        found = image_id(reference)
    else:
        loaded = images.get(normalize(reference))
        found = loaded if loaded and image_id(loaded) else None
    if found:
        return found, False
    # A kind node's containerd pulls the full name; this machine's podman resolves short names.
    pulled = podman(
        "pull", "--quiet", normalize(reference) if images is not None else reference, check=False
    )
    if pulled.returncode != 0:
        reason = (pulled.stderr.strip().splitlines() or ["pull failed"])[-1]
        raise PullError(f"ErrImagePull: {reference}: {reason}")
    found = image_id(reference)
    if not found:
        raise PullError(f"ErrImagePull: {reference}: pulled, then not found")
    cluster.add_node_image(normalize(reference), found)
    return found, True


def serving_container(spec: dict[str, Any]) -> dict[str, Any]:
    """The container that gets the port: the first that declares ports."""
    containers: list[dict[str, Any]] = spec["containers"]
    return next((c for c in containers if c.get("ports")), containers[0])


def pod_name(deployment: str, template: dict[str, Any]) -> str:
    """`<deployment>-<template hash>-<random>`, shaped like the names Kubernetes gives pods."""
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    template_hash = "".join(NAME_ALPHABET[b % len(NAME_ALPHABET)] for b in digest[:10])
    suffix = "".join(random.choice(NAME_ALPHABET) for _ in range(5))
    return f"{deployment}-{template_hash}-{suffix}"


def play(cluster: Cluster, namespace: str, deployment: dict[str, Any]) -> dict[str, Any]:
    """Start the Deployment's pod. The record's `error` says why a pod could not start (its
    image cannot be had, or podman refused the pod): the rollout then fails, as on a cluster."""
    name = deployment["metadata"]["name"]
    template = deployment["spec"]["template"]
    spec = copy.deepcopy(template["spec"])
    container = serving_container(spec)
    declared = container.get("ports", [])
    readiness = container.get("readinessProbe", {}).get("httpGet", {}).get("path")
    labels = template.get("metadata", {}).get("labels", {})
    record: dict[str, Any] = {
        "name": pod_name(name, template),
        "namespace": namespace,
        "deployment": name,
        "labels": labels,
        "images": {
            c["name"]: c["image"] for c in spec.get("initContainers", []) + spec["containers"]
        },
        "pulled": [],
        "port": free_port(),
        "ports": declared,
        "readiness": readiness,
        "started": time.time(),
        "manifest": None,
        "podman_pod": None,
        "containers": {},
        "error": None,
    }
    try:
        for each in spec.get("initContainers", []) + spec["containers"]:
            reference = each["image"]
            each["image"], pulled = node_image(cluster, reference)
            each["imagePullPolicy"] = "Never"
            each.pop("ports", None)
            if pulled:
                record["pulled"].append(reference)
    except PullError as error:
        record["error"] = str(error)
        return record

    port = record["port"]
    # Host networking would put a service listening on 0.0.0.0 on every interface of the machine.
    kept = [e for e in container.get("env", []) if e.get("name") not in ("PORT", "BENTOML_HOST")]
    container["env"] = [
        *kept,
        {"name": "PORT", "value": str(port)},
        {"name": "BENTOML_HOST", "value": "127.0.0.1"},
    ]
    names = {p.get("name") for p in declared if p.get("name")}
    numbers = {p.get("containerPort") for p in declared}
    for probe in PROBES:
        for handler in ("httpGet", "tcpSocket"):
            action = container.get(probe, {}).get(handler)
            if action and (action.get("port") in names or action.get("port") in numbers):
                action["port"] = port
    spec["hostNetwork"] = True

    played_name = f"{namespace}-{record['name']}"
    played = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": played_name, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": deployment["spec"]["selector"],
            "template": {"metadata": {"labels": labels}, "spec": spec},
        },
    }
    manifest = cluster.root / "played" / f"{played_name}.json"
    write_json(manifest, played)
    record["manifest"] = str(manifest)
    started = podman("kube", "play", str(manifest), check=False)
    if started.returncode != 0:
        podman("kube", "down", str(manifest), check=False)
        record["error"] = f"CreateContainerError: {started.stderr.strip()}"
        return record
    record["podman_pod"] = started.stdout.split("Pod:", 1)[1].split()[0]
    inspected = json.loads(podman("pod", "inspect", record["podman_pod"]).stdout)
    inspected = inspected[0] if isinstance(inspected, list) else inspected
    prefix = f"{inspected['Name']}-"
    record["containers"] = {
        c["Name"].removeprefix(prefix): c["Name"]
        for c in inspected["Containers"]
        if c["Name"].startswith(prefix)
    }
    return record


def down(record: dict[str, Any]) -> str:
    """`podman kube down` the pod (what is left of it); returns podman's answer for the record."""
    if not record.get("manifest"):
        return "nothing was started"
    stopped = podman("kube", "down", record["manifest"], check=False)
    return (stopped.stdout + stopped.stderr).strip()


def phase(record: dict[str, Any]) -> str:
    """The pod's phase as Kubernetes would report it."""
    if record["error"] or not record["podman_pod"]:
        return "Pending"
    state = podman("pod", "inspect", "--format", "{{.State}}", record["podman_pod"], check=False)
    if state.returncode != 0:
        return "Unknown"
    return {"Running": "Running", "Degraded": "Running", "Created": "Pending"}.get(
        state.stdout.strip(), "Failed"
    )


def ready(record: dict[str, Any]) -> bool:
    """Running and, when it has an HTTP readiness probe, answering it (2xx/3xx, as the kubelet
    counts); without one a running pod is ready, as in Kubernetes."""
    if phase(record) != "Running":
        return False
    if not record["readiness"]:
        return True
    url = f"http://127.0.0.1:{record['port']}{record['readiness']}"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return 200 <= response.status < 400
    except (urllib.error.URLError, OSError):
        return False


def logs(record: dict[str, Any], lines: int = 40) -> str:
    if not record["podman_pod"]:
        return ""
    found = podman("pod", "logs", "--tail", str(lines), record["podman_pod"], check=False)
    return (found.stdout + found.stderr).rstrip()


def forward(
    local_port: int, target_port: int, on_connection: Callable[[], None]
) -> socketserver.TCPServer:
    """A bound TCP proxy 127.0.0.1:local_port -> 127.0.0.1:target_port (serve_forever to run)."""

    def pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            on_connection()
            try:
                upstream = socket.create_connection(("127.0.0.1", target_port), timeout=10)
            except OSError:
                return
            upstream.settimeout(None)
            # Without it Nagle's algorithm holds a request's body until the headers are
            # acknowledged: ~40 ms added to every other request.
            for end in (upstream, self.request):
                end.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with upstream:
                back = threading.Thread(target=pump, args=(upstream, self.request), daemon=True)
                back.start()
                pump(self.request, upstream)
                back.join()

    class Server(socketserver.ThreadingTCPServer):
        allow_reuse_address = True
        daemon_threads = True

    try:
        return Server(("127.0.0.1", local_port), Handler)
    except OSError as error:
        raise Fail(f"Unable to listen on port {local_port}: {error}") from None
