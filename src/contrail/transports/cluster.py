"""The Kubernetes cluster: the one module that runs `kubectl` and `kind` (and deploy/render.sh,
which runs `kubectl kustomize`).

Each function is one command, with the argument shapes the kubectl/kind stand-in of the workflow
tests models (tests/workflows/stand_ins/README.md). The tools' stdout passes through as it comes
(a rollout status takes minutes) unless a function returns it; their stderr passes through too,
and its last line names the failure in `ClusterError`. The cluster is the current context of
KUBECONFIG, as for a person typing kubectl.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

KUBECTL = "kubectl"
KIND = "kind"
# How long a port-forward may take to serve before it counts as failed.
FORWARD_WAIT_S = 30.0
FORWARD_POLL_S = 0.1
FORWARDING = "Forwarding from"


class ClusterError(RuntimeError):
    """kubectl or kind failed, or could not start; the message names the command."""


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def _run(argv: Sequence[str], *, stdin: str | None = None, capture: bool = False) -> str:
    """Run `argv`; stdout passes through, or is returned when `capture` is set."""
    try:
        done = subprocess.run(
            list(argv),
            input=stdin,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    except OSError as exc:
        raise ClusterError(f"cannot run {argv[0]}: {exc}") from None
    sys.stderr.write(done.stderr)
    if done.returncode != 0:
        raise ClusterError(
            f"`{shlex.join(argv)}` exited with {done.returncode}: {_last_line(done.stderr)}"
        )
    return done.stdout if capture else ""


def render(script: Path, stage: str, digest: str, repository: str) -> str:
    """The manifests of `stage`'s overlay with the image pinned to `repository@digest`."""
    return _run([str(script), stage, digest, repository], capture=True)


def apply(manifests: str) -> None:
    """`kubectl apply` the manifests (each names its namespace)."""
    _run([KUBECTL, "apply", "-f", "-"], stdin=manifests)


def create_namespace(namespace: str) -> None:
    """Create `namespace` unless it exists (rendered client-side, then applied)."""
    manifest = _run(
        [KUBECTL, "create", "namespace", namespace, "--dry-run=client", "-o", "yaml"],
        capture=True,
    )
    apply(manifest)


def rollout_status(namespace: str, deployment: str, timeout: str) -> None:
    """Wait until `deployment` (e.g. `deployment/x`) has rolled out; fail after `timeout`."""
    _run([KUBECTL, "-n", namespace, "rollout", "status", deployment, f"--timeout={timeout}"])


def rollout_undo(namespace: str, deployment: str) -> None:
    """Roll `deployment` back to its previous pod template."""
    _run([KUBECTL, "-n", namespace, "rollout", "undo", deployment])


def running_pod(namespace: str, selector: str) -> str:
    """The name of the first Running pod matching the label `selector`."""
    name = _run(
        [
            KUBECTL, "-n", namespace, "get", "pods", "-l", selector,
            "--field-selector=status.phase=Running", "-o", "jsonpath={.items[0].metadata.name}",
        ],
        capture=True,
    ).strip()  # fmt: skip
    if not name:
        raise ClusterError(f"no Running pod in {namespace} matches {selector}")
    return name


def wait_ready(namespace: str, pod: str, timeout: str) -> None:
    """Fail unless `pod` (e.g. `pod/x`) is Ready within `timeout`."""
    _run([KUBECTL, "-n", namespace, "wait", "--for=condition=Ready", pod, f"--timeout={timeout}"])


def delete(namespace: str, resource: str) -> None:
    """Delete `resource` (e.g. `deployment/x`) and wait until it is gone; none is no error."""
    _run([KUBECTL, "-n", namespace, "delete", resource, "--ignore-not-found", "--wait=true"])


def describe_pods(namespace: str) -> str:
    """`kubectl describe pods`: what a person needs to see why a rollout failed."""
    return _run([KUBECTL, "-n", namespace, "describe", "pods"], capture=True)


def kind_load_archive(archive: Path, cluster: str) -> None:
    """Load an image archive (`<engine> save`) onto the nodes of kind cluster `cluster`."""
    _run([KIND, "load", "image-archive", str(archive), "--name", cluster])


@contextmanager
def port_forward(namespace: str, target: str, local_port: int, remote_port: int) -> Iterator[None]:
    """Forward 127.0.0.1:`local_port` to `target` (e.g. `service/x`) while the block runs.

    Entered once kubectl says it is forwarding; if kubectl exits first (a busy port, no such
    target) or stays silent for FORWARD_WAIT_S, ClusterError names the port: a smoke test must
    never reach whatever else listens there. kubectl is stopped on exit."""
    argv = [KUBECTL, "-n", namespace, "port-forward", target, f"{local_port}:{remote_port}"]
    with tempfile.TemporaryDirectory() as folder:
        # A file, not a pipe: kubectl logs every connection and must never block on a full pipe.
        log = Path(folder) / "port-forward.log"
        with log.open("wb") as out:
            try:
                process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
            except OSError as exc:
                raise ClusterError(f"cannot run {KUBECTL}: {exc}") from None
        try:
            _await_forwarding(process, log, target, local_port)
            yield
        finally:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _await_forwarding(
    process: subprocess.Popen[bytes], log: Path, target: str, local_port: int
) -> None:
    deadline = time.monotonic() + FORWARD_WAIT_S
    while time.monotonic() < deadline:
        said = log.read_text(errors="replace")
        if any(line.startswith(FORWARDING) for line in said.splitlines()):
            return
        if process.poll() is not None:
            break
        time.sleep(FORWARD_POLL_S)
    said = log.read_text(errors="replace")
    sys.stderr.write(said)
    raise ClusterError(
        f"no port-forward to {target} on 127.0.0.1:{local_port} (busy port?): {_last_line(said)}"
    )
