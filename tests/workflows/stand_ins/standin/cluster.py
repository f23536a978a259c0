"""The state of one stand-in cluster (one kubeconfig context), kept as JSON files.

Objects: `clusters/<context>/objects/<namespace>/<Kind>/<name>.json` = {revision, object,
previous} (previous: the Deployment's prior pod template revision, for `rollout undo`).
Pods: `clusters/<context>/pods/<namespace>/<deployment>.json`, one played pod per Deployment.
Kind clusters: `kind/<name>.json` (their node images), written by the kind stand-in.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from standin.core import (
    BUILTIN_NAMESPACES,
    NAMESPACES_ENV,
    current_context,
    kind_cluster_file,
    read_json,
    safe,
    state_root,
    write_json,
)

CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "IngressClass",
}


class Cluster:
    def __init__(self, context: str) -> None:
        self.context = context
        self.root = state_root() / "clusters" / safe(context)
        kind_name = context.removeprefix("kind-")
        self.kind_file = kind_cluster_file(kind_name) if context.startswith("kind-") else None
        if self.kind_file is not None and not self.kind_file.is_file():
            self.kind_file = None

    @classmethod
    def current(cls) -> Cluster:
        """The cluster of the kubeconfig's current context (fails as kubectl does without one)."""
        return cls(current_context()[1])

    def _object_path(self, namespace: str | None, kind: str, name: str) -> Path:
        return self.root / "objects" / safe(namespace or "_cluster") / kind / f"{safe(name)}.json"

    def get(self, namespace: str | None, kind: str, name: str) -> dict[str, Any] | None:
        entry: dict[str, Any] | None = read_json(self._object_path(namespace, kind, name))
        return entry

    def put(self, namespace: str | None, kind: str, name: str, entry: dict[str, Any]) -> None:
        write_json(self._object_path(namespace, kind, name), entry)

    def remove(self, namespace: str | None, kind: str, name: str) -> bool:
        path = self._object_path(namespace, kind, name)
        if not path.is_file():
            return False
        path.unlink()
        return True

    def namespace_exists(self, namespace: str) -> bool:
        if namespace in BUILTIN_NAMESPACES or self.get(None, "Namespace", namespace):
            return True
        existing = os.environ.get(NAMESPACES_ENV, "").replace(",", " ").split()
        return self.kind_file is None and namespace in existing

    def _pod_path(self, namespace: str, deployment: str) -> Path:
        return self.root / "pods" / safe(namespace) / f"{safe(deployment)}.json"

    def pod(self, namespace: str, deployment: str) -> dict[str, Any] | None:
        record: dict[str, Any] | None = read_json(self._pod_path(namespace, deployment))
        return record

    def put_pod(self, record: dict[str, Any]) -> None:
        write_json(self._pod_path(record["namespace"], record["deployment"]), record)

    def remove_pod(self, namespace: str, deployment: str) -> None:
        self._pod_path(namespace, deployment).unlink(missing_ok=True)

    def pods(self, namespace: str) -> list[dict[str, Any]]:
        folder = self.root / "pods" / safe(namespace)
        return [read_json(path) for path in sorted(folder.glob("*.json"))]

    def node_images(self) -> dict[str, str] | None:
        """A kind node's images (full name -> image ID); None for a cluster whose nodes pull."""
        if self.kind_file is None:
            return None
        images: dict[str, str] = read_json(self.kind_file)["images"]
        return images

    def add_node_image(self, name: str, image_id: str) -> None:
        if self.kind_file is not None:
            cluster = read_json(self.kind_file)
            cluster["images"][name] = image_id
            write_json(self.kind_file, cluster)
