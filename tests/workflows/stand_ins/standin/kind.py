"""`kind` against stand-in clusters: a cluster is a state folder, a kubeconfig context and a
node image store (what `kind load` put there), with no node behind it.

Harmless calls (create/delete/get clusters, version) succeed; `kind load` checks what a real
one needs (the cluster exists, the image is in the local engine, the archive loads); anything
else fails (exit 1) with a message saying it is not modelled.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from pathlib import Path

from standin import pods
from standin.cluster import Cluster
from standin.core import (
    Call,
    Fail,
    default_kubeconfig,
    kind_cluster_file,
    locked,
    state_root,
    write_json,
)

VALUE_FLAGS = {"name", "wait", "config", "image", "kubeconfig", "verbosity", "nodes"}
BOOL_FLAGS = {"retain"}
VERSION = "kind v0.31.0-standin go1.25 linux/amd64"
KUBECONFIG = """\
# Written by the kind stand-in (tests/workflows/stand_ins): no API server listens here.
apiVersion: v1
kind: Config
clusters:
- cluster:
    server: https://127.0.0.1:6443
  name: {context}
contexts:
- context:
    cluster: {context}
    user: {context}
  name: {context}
current-context: {context}
preferences: {{}}
users:
- name: {context}
  user: {{}}
"""


def parse(argv: list[str]) -> tuple[list[str], dict[str, str]]:
    words: list[str] = []
    flags: dict[str, str] = {}
    rest = list(argv)
    while rest:
        word = rest.pop(0)
        if not word.startswith("-"):
            words.append(word)
            continue
        name, equals, value = word.lstrip("-").partition("=")
        name = {"v": "verbosity"}.get(name, name)
        if name in BOOL_FLAGS:
            flags[name] = value or "true"
        elif name in VALUE_FLAGS and (equals or rest):
            flags[name] = value if equals else rest.pop(0)
        else:
            raise Fail(f"kind stand-in: flag {word} is not modelled")
    return words, flags


def run(call: Call, argv: list[str]) -> int:
    words, flags = parse(argv)
    name = flags.get("name") or os.environ.get("KIND_CLUSTER_NAME") or "kind"
    if words not in (["version"], ["get", "clusters"]):
        call.record["context"] = f"kind-{name}"
    command = " ".join(words[:2])
    if words == ["version"]:
        call.out(VERSION)
    elif words == ["create", "cluster"]:
        create(call, name, flags)
    elif words == ["delete", "cluster"]:
        remove(call, name)
    elif words == ["get", "clusters"]:
        clusters = sorted(p.stem for p in (state_root() / "kind").glob("*.json"))
        for cluster in clusters:
            call.out(cluster)
        if not clusters:
            call.err("No kind clusters found.")
    elif words == ["get", "kubeconfig"]:
        existing(name)
        call.out(KUBECONFIG.format(context=f"kind-{name}"), end="")
    elif words == ["get", "nodes"]:
        existing(name)
        call.out(f"{name}-control-plane")
    elif command == "load docker-image" and words[2:]:
        load_images(call, name, words[2:])
    elif command == "load image-archive" and len(words) == 3:
        load_archive(call, name, Path(words[2]))
    else:
        raise Fail(f"kind stand-in: `kind {' '.join(argv)}` is not modelled")
    return 0


def existing(name: str) -> None:
    if not kind_cluster_file(name).is_file():
        raise Fail(f'ERROR: no nodes found for cluster "{name}"')


def create(call: Call, name: str, flags: dict[str, str]) -> None:
    """A fresh cluster: empty state, the context written to the kubeconfig kind would write."""
    if kind_cluster_file(name).is_file():
        raise Fail(
            f'ERROR: failed to create cluster: node(s) already exist for a cluster with the name "{name}"'
        )
    config = flags.get("config")
    if config and not Path(config).is_file():
        raise Fail(f'ERROR: failed to create cluster: error reading file "{config}"')
    kubeconfig = Path(flags["kubeconfig"]) if "kubeconfig" in flags else default_kubeconfig()
    context = f"kind-{name}"
    with locked():
        shutil.rmtree(Cluster(context).root, ignore_errors=True)
        write_json(
            kind_cluster_file(name),
            {
                "name": name,
                "kubeconfig": str(kubeconfig),
                "config": Path(config).read_text() if config else None,
                "node_image": flags.get("image"),
                "images": {},
            },
        )
        kubeconfig.parent.mkdir(parents=True, exist_ok=True)
        kubeconfig.write_text(KUBECONFIG.format(context=context))
    call.record["details"] = {"kubeconfig": str(kubeconfig)}
    call.out(f'Creating cluster "{name}" ... (stand-in: no node is started)')
    call.out(f'Set kubectl context to "{context}"')


def remove(call: Call, name: str) -> None:
    """Every played pod of the cluster goes (kube down), then its state and kubeconfig."""
    call.out(f'Deleting cluster "{name}" ...')
    cluster_file = kind_cluster_file(name)
    if not cluster_file.is_file():
        return
    with locked():
        cluster = Cluster(f"kind-{name}")
        for pod_file in sorted((cluster.root / "pods").glob("*/*.json")):
            pods.down(json.loads(pod_file.read_text()))
        shutil.rmtree(cluster.root, ignore_errors=True)
        kubeconfig = Path(json.loads(cluster_file.read_text())["kubeconfig"])
        if kubeconfig.is_file() and f"current-context: kind-{name}" in kubeconfig.read_text():
            kubeconfig.unlink()
        cluster_file.unlink()
    call.out(f'Deleted nodes: ["{name}-control-plane"]')


def load_images(call: Call, name: str, images: list[str]) -> None:
    """`kind load docker-image`: each image must be in the local engine (podman here)."""
    existing(name)
    put_on_node(call, name, images, missing='ERROR: image: "{image}" not present locally')


def load_archive(call: Call, name: str, archive: Path) -> None:
    """`kind load image-archive`: the archive is loaded into podman (which checks it), and its
    tagged names become the node's images, as containerd would import them."""
    existing(name)
    if not archive.is_file():
        raise Fail(f"ERROR: failed to load image: open {archive}: no such file or directory")
    try:
        with tarfile.open(archive) as tar:
            member = tar.extractfile("manifest.json")
            manifest = json.loads(member.read()) if member else []
    except (tarfile.TarError, KeyError, ValueError) as error:
        raise Fail(
            f"ERROR: failed to load image: {archive} is not an image archive: {error}"
        ) from None
    names = [tag for entry in manifest for tag in entry.get("RepoTags") or []]
    if not names:
        raise Fail(f"ERROR: failed to load image: {archive} names no image (RepoTags)")
    pods.podman("load", "--quiet", "--input", str(archive))
    missing = f'ERROR: failed to load image: "{{image}}" is not in {archive}'
    put_on_node(call, name, names, missing=missing)


def put_on_node(call: Call, name: str, images: list[str], *, missing: str) -> None:
    """Make podman's `images` the kind node's, under the names containerd would give them;
    `missing` (with `{image}`) is kind's error for one podman does not have."""
    cluster = Cluster(f"kind-{name}")
    with locked():
        for image in images:
            found = pods.image_id(image)
            if found is None:
                raise Fail(missing.format(image=image))
            cluster.add_node_image(pods.normalize(image), found)
            call.out(
                f'Image: "{image}" with ID "sha256:{found}" loaded on node "{name}-control-plane"'
            )
    call.record["details"]["loaded"] = images
