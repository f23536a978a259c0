"""What the kubectl and kind stand-ins share: the call record, the cluster state, YAML input.

Standard library only: the stand-ins run under whichever python3 a workflow step has first on
PATH. YAML is parsed by the interpreter of kubernetes-validate's environment (PyYAML is one of
its dependencies), so the stand-ins need no packages of their own.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

LOG_ENV = "CONTRAIL_STANDIN_LOG"
STATE_ENV = "CONTRAIL_STANDIN_STATE"
VALIDATOR_ENV = "CONTRAIL_STANDIN_VALIDATOR"
# Namespaces that already exist in a cluster reached through a KUBECONFIG (a kind cluster starts
# with the built-in ones only, as a fresh one does).
NAMESPACES_ENV = "CONTRAIL_STANDIN_NAMESPACES"
BUILTIN_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
# The version `make lint-k8s` validates against.
K8S_VERSION = "1.32.0"
# What kubectl prints when it has no cluster to talk to: a workflow that forgets its kubeconfig
# fails here as it would on a runner.
NO_CLUSTER = "The connection to the server localhost:8080 was refused - did you specify the right host or port?"
YAML_TO_JSON = (
    "import json, sys, yaml; "
    "json.dump(list(yaml.safe_load_all(sys.stdin)), sys.stdout, default=str)"
)
# Recorded output is cut here: a line per call must stay readable.
RECORD_LIMIT = 20_000


class Fail(Exception):
    """A failed call: the message goes to stderr and into the record, the code is the exit."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def required_path(name: str) -> Path:
    value = os.environ.get(name)
    if not value:
        raise Fail(f"stand-in: set {name} (see tests/workflows/stand_ins/README.md)")
    return Path(value)


class Call:
    """One invocation, written to CONTRAIL_STANDIN_LOG as one JSON line when it ends (or, for a
    call that runs until killed, as soon as it is serving)."""

    def __init__(self, tool: str, argv: list[str]) -> None:
        self.record: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "tool": tool,
            "argv": argv,
            "cwd": os.getcwd(),
            "namespace": None,
            "context": None,
            "manifests": [],
            "exit": None,
            "stdout": "",
            "stderr": "",
            "details": {},
        }
        self.written = False

    def out(self, text: str, end: str = "\n") -> None:
        print(text, end=end, flush=True)
        self.record["stdout"] += text + end

    def err(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)
        self.record["stderr"] += text + "\n"

    def write(self) -> None:
        for stream in ("stdout", "stderr"):
            if len(self.record[stream]) > RECORD_LIMIT:
                self.record[stream] = self.record[stream][:RECORD_LIMIT] + "\n[cut]"
        path = required_path(LOG_ENV)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as log:
            fcntl.flock(log, fcntl.LOCK_EX)
            log.write(json.dumps(self.record, default=str) + "\n")
        self.written = True


def main(tool: str, handler: Callable[[Call, list[str]], int]) -> int:
    """Run one call of `tool`, record it whatever happens, return its exit code."""
    call = Call(tool, sys.argv[1:])
    try:
        code = handler(call, sys.argv[1:])
    except Fail as failure:
        call.err(str(failure))
        code = failure.code
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        # The reader went away (`| head`): exit as a killed-by-SIGPIPE process would, quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 141
    except Exception:
        call.err(f"{tool} stand-in crashed:\n{traceback.format_exc()}")
        code = 1
    call.record["exit"] = code
    if not call.written:
        try:
            call.write()
        except Fail as failure:
            print(failure, file=sys.stderr)
            return failure.code
    return code


def state_root() -> Path:
    root = required_path(STATE_ENV)
    root.mkdir(parents=True, exist_ok=True)
    return root


@contextlib.contextmanager
def locked() -> Iterator[None]:
    """Serialise the calls that change state (a port-forward runs beside later calls)."""
    with (state_root() / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def read_json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(value, indent=1, default=str))
    temporary.replace(path)


def safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def default_kubeconfig() -> Path:
    """Where kubectl and kind look: the first KUBECONFIG entry, else the stand-in's ~/.kube/config
    (kept in the state folder: a run must not write the real home)."""
    entries = [e for e in os.environ.get("KUBECONFIG", "").split(os.pathsep) if e]
    return Path(entries[0]) if entries else state_root() / "kubeconfig"


def current_context() -> tuple[Path, str]:
    path = default_kubeconfig()
    text = path.read_text() if path.is_file() else ""
    found = re.search(r"^current-context:\s*[\"']?([^\"'\s]+)", text, re.MULTILINE)
    if not found:
        raise Fail(NO_CLUSTER)
    return path, found.group(1)


def kind_cluster_file(name: str) -> Path:
    return state_root() / "kind" / f"{safe(name)}.json"


def real_tool(name: str) -> str:
    """The real `name` on PATH, skipping the stand-in itself (also when linked elsewhere)."""
    own = Path(sys.argv[0]).resolve()
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        found = shutil.which(name, path=folder) if folder else None
        if found and Path(found).resolve() != own:
            return found
    raise Fail(f"{name} stand-in: this call needs the real {name} on PATH after the stand-in")


def validator() -> str:
    configured = os.environ.get(VALIDATOR_ENV) or shutil.which("kubernetes-validate")
    if not configured or not Path(configured).is_file():
        raise Fail(f"kubectl stand-in: kubernetes-validate not found: set {VALIDATOR_ENV} to it")
    return configured


def load_yaml(text: str, source: str) -> list[dict[str, Any]]:
    """The documents of a YAML stream (empty ones dropped, as kubectl does)."""
    python = Path(validator()).parent / "python"
    if not python.exists():
        raise Fail(f"kubectl stand-in: no python beside {validator()} to read YAML with")
    parsed = subprocess.run(
        [str(python), "-c", YAML_TO_JSON], input=text, capture_output=True, text=True
    )
    if parsed.returncode != 0:
        reason = parsed.stderr.strip().splitlines()[-1:] or ["unreadable YAML"]
        raise Fail(f"error: error parsing {source}: {reason[0]}")
    documents = [d for d in json.loads(parsed.stdout) if d is not None]
    for document in documents:
        if not isinstance(document, dict) or not document.get("kind"):
            raise Fail(f"error: error validating {source}: a document without kind: {document!r}")
        if not document.get("metadata", {}).get("name"):
            raise Fail(
                f"error: error validating {source}: a {document['kind']} without metadata.name"
            )
    return documents


def validate(path: Path, source: str) -> tuple[dict[tuple[str, str], str], set[tuple[str, str]]]:
    """`kubernetes-validate -k 1.32.0 --strict` on a file, as `make lint-k8s` runs it.

    Returns the rejected objects ((lowercase kind, name) -> the validator's line) and the
    (apiVersion, kind) pairs it has no schema for, which an API server would not know either.
    """
    result = subprocess.run(
        [validator(), "-k", K8S_VERSION, "--strict", str(path)], capture_output=True, text=True
    )
    rejected: dict[tuple[str, str], str] = {}
    unknown: set[tuple[str, str]] = set()
    for line in (result.stdout + result.stderr).splitlines():
        line = line.replace(str(path), source)
        error = re.match(r"ERROR \S+ did not validate for resource ([^/\s]+)/(\S+) against", line)
        if error:
            rejected[(error.group(1), error.group(2))] = line
        warn = re.match(
            r"WARN \S+ Couldn't find schema for kind (\S+) with api version (\S+) ", line
        )
        if warn:
            unknown.add((warn.group(2), warn.group(1)))
    if result.returncode != 0 and not rejected:
        raise Fail(f"error: {source} was rejected:\n{(result.stdout + result.stderr).strip()}")
    return rejected, unknown
