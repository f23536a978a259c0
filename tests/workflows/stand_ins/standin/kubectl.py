"""`kubectl` as the Makefile's deploy targets call it, against a stand-in cluster.

`kustomize`, `version --client` and `create ... --dry-run=client` need no cluster: the real
kubectl answers them. Everything else acts on the stand-in cluster of the kubeconfig's current
context; a call the stand-in does not model fails (exit 1) with a message saying so, so that a
workflow can never pass on something nobody checked.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from standin import pods
from standin.cluster import CLUSTER_SCOPED, Cluster
from standin.core import Call, Fail, load_yaml, locked, real_tool, validate

# (Kind, API group, short name): what `deployment/x`, `deploy x` or `svc/x` refer to.
RESOURCES = [
    ("Deployment", "apps", "deploy"),
    ("Service", "", "svc"),
    ("Pod", "", "po"),
    ("Namespace", "", "ns"),
    ("ServiceAccount", "", "sa"),
    ("ConfigMap", "", "cm"),
    ("Secret", "", ""),
    ("HorizontalPodAutoscaler", "autoscaling", "hpa"),
    ("PodDisruptionBudget", "policy", "pdb"),
    ("NetworkPolicy", "networking.k8s.io", "netpol"),
]
GROUPS = {kind: group for kind, group, _ in RESOURCES}
SHORT_FLAGS = {"n": "namespace", "f": "filename", "l": "selector", "o": "output", "w": "watch"}
VALUE_FLAGS = {"namespace", "filename", "selector", "output", "field-selector", "timeout", "for"}


def plural(kind: str) -> str:
    lower = kind.lower()
    return lower[:-1] + "ies" if lower.endswith("y") else lower + "s"


ALIASES = {
    alias: kind
    for kind, group, short in RESOURCES
    for alias in {
        kind.lower(),
        plural(kind),
        short,
        f"{kind.lower()}.{group}",
        f"{plural(kind)}.{group}",
    }
    if alias and not alias.endswith(".")
}


def shown(kind: str) -> str:
    """`deployment.apps`, `service`: how kubectl names a kind in its messages."""
    group = GROUPS.get(kind, "")
    return f"{kind.lower()}.{group}" if group else kind.lower()


def not_found(kind: str, name: str) -> Fail:
    group = GROUPS.get(kind, "")
    resource = f"{plural(kind)}.{group}" if group else plural(kind)
    return Fail(f'Error from server (NotFound): {resource} "{name}" not found')


class Args:
    """kubectl's command line: positional words and --flags (-n, -f, -l, -o, -w as short)."""

    def __init__(self, argv: list[str]) -> None:
        self.words: list[str] = []
        self.flags: dict[str, list[str]] = {}
        rest = list(argv)
        while rest:
            word = rest.pop(0)
            if word == "--":
                self.words += rest
                break
            if word.startswith("--"):
                name, equals, value = word[2:].partition("=")
            elif word.startswith("-") and len(word) > 1:
                if word[1] not in SHORT_FLAGS:
                    raise Fail(f"kubectl stand-in: unsupported flag {word}")
                name, value = SHORT_FLAGS[word[1]], word[2:].removeprefix("=")
                equals = "=" if value else ""
            else:
                self.words.append(word)
                continue
            if not equals:
                if name in VALUE_FLAGS:
                    if not rest:
                        raise Fail(f"error: flag needs an argument: --{name}")
                    value = rest.pop(0)
                else:
                    value = "true"
            self.flags.setdefault(name, []).append(value)

    def only(self, command: str, *allowed: str) -> None:
        unknown = sorted(set(self.flags) - {"namespace", *allowed})
        if unknown:
            raise Fail(f"kubectl stand-in: `kubectl {command}` with --{unknown[0]} is not modelled")

    def flag(self, name: str, default: str = "") -> str:
        return self.flags.get(name, [default])[-1]


def duration(text: str) -> float:
    """A Go duration (`300s`, `5m`, `1m30s`, `0`) in seconds."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
    if text == "0":
        return 0.0
    if not parts or "".join(n + u for n, u in parts) != text:
        raise Fail(f'error: invalid argument "{text}" for "--timeout" flag: time: invalid duration')
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * scale[u] for n, u in parts)


def target(words: list[str], command: str) -> tuple[str, str]:
    """(Kind, name) from `kind/name` or `kind name`."""
    if len(words) == 1 and "/" in words[0]:
        alias, name = words[0].split("/", 1)
    elif len(words) == 2:
        alias, name = words
    else:
        raise Fail(f"kubectl stand-in: `kubectl {command}` needs one TYPE/NAME, got {words}")
    if alias.lower() not in ALIASES:
        raise Fail(f'error: the server doesn\'t have a resource type "{alias}"')
    return ALIASES[alias.lower()], name


def run(call: Call, argv: list[str]) -> int:
    args = Args(argv)
    if not args.words:
        raise Fail("kubectl stand-in: no command")
    command, words = args.words[0], args.words[1:]
    if (
        command == "kustomize"
        or (command == "version" and args.flag("client") == "true")
        or (command == "create" and args.flag("dry-run") == "client")
    ):
        return passthrough(call, argv)
    handlers = {
        "apply": apply,
        "rollout": rollout,
        "get": get,
        "port-forward": port_forward,
        "wait": wait,
        "delete": delete,
        "describe": describe,
    }
    if command not in handlers:
        raise Fail(f"kubectl stand-in: `kubectl {' '.join(argv)}` is not modelled")
    cluster = Cluster.current()
    call.record["context"] = cluster.context
    call.record["namespace"] = args.flag("namespace") or None
    return handlers[command](call, cluster, args, words)


def passthrough(call: Call, argv: list[str]) -> int:
    result = subprocess.run([real_tool("kubectl"), *argv], capture_output=True, text=True)
    call.out(result.stdout, end="")
    if result.stderr:
        call.err(result.stderr.rstrip())
    return result.returncode


def apply(call: Call, cluster: Cluster, args: Args, words: list[str]) -> int:
    """Validate, store, and play each Deployment's pod. Objects are applied one by one: an
    invalid one is refused (exit 1) while the valid ones go through, as with an API server."""
    args.only("apply", "filename")
    if words or "filename" not in args.flags:
        raise Fail("error: must specify one of -f and -k")
    flag_namespace = args.flag("namespace")
    errors: list[str] = []
    with locked(), tempfile.TemporaryDirectory() as work:
        for number, source in enumerate(args.flags["filename"]):
            if source == "-":
                text, path, name = sys.stdin.read(), Path(work) / f"stdin-{number}.yaml", "STDIN"
                path.write_text(text)
            else:
                path, name = Path(source), source
                if not path.is_file():
                    raise Fail(f'error: the path "{source}" does not exist')
                text = path.read_text()
            documents = load_yaml(text, name)
            call.record["manifests"] += documents
            rejected, unknown = validate(path, name)
            for document in documents:
                problem = refusal(cluster, document, flag_namespace, name, rejected, unknown)
                if problem:
                    errors.append(problem)
                else:
                    store(call, cluster, document, flag_namespace)
    for problem in errors:
        call.err(problem)
    return 1 if errors else 0


def namespace_of(document: dict[str, Any], flag_namespace: str) -> str | None:
    if document["kind"] in CLUSTER_SCOPED:
        return None
    namespace: str = document["metadata"].get("namespace") or flag_namespace or "default"
    return namespace


def refusal(
    cluster: Cluster,
    document: dict[str, Any],
    flag_namespace: str,
    source: str,
    rejected: dict[tuple[str, str], str],
    unknown: set[tuple[str, str]],
) -> str | None:
    """Why an API server (or kubectl) would refuse this object, or None."""
    kind, name = document["kind"], document["metadata"]["name"]
    own = document["metadata"].get("namespace")
    namespace = namespace_of(document, flag_namespace)
    if (document.get("apiVersion"), kind) in unknown:
        return (
            f'error: resource mapping not found for name: "{name}" namespace: "{own or ""}" '
            f'from "{source}": no matches for kind "{kind}" in version "{document.get("apiVersion")}"'
        )
    if (kind.lower(), name) in rejected:
        return f'Error from server (BadRequest): error when creating "{source}": {rejected[(kind.lower(), name)]}'
    if own and flag_namespace and own != flag_namespace:
        return (
            f'error: the namespace from the provided object "{own}" does not match the namespace '
            f"\"{flag_namespace}\". You must pass '--namespace={own}' to perform this operation."
        )
    if namespace and not cluster.namespace_exists(namespace):
        return f'Error from server (NotFound): error when creating "{source}": namespaces "{namespace}" not found'
    if kind == "Deployment":
        containers = document["spec"]["template"]["spec"]["containers"]
        for index, container in enumerate(containers):
            if not container.get("image"):
                return (
                    f'The Deployment "{name}" is invalid: '
                    f"spec.template.spec.containers[{index}].image: Required value"
                )
    return None


def store(call: Call, cluster: Cluster, document: dict[str, Any], flag_namespace: str) -> None:
    kind, name = document["kind"], document["metadata"]["name"]
    namespace = namespace_of(document, flag_namespace)
    entry = cluster.get(namespace, kind, name)
    new_template = kind == "Deployment" and (
        entry is None or entry["object"]["spec"]["template"] != document["spec"]["template"]
    )
    if entry is None:
        verb, entry = "created", {"revision": 1, "object": document, "previous": None}
    elif entry["object"] == document:
        verb = "unchanged"
    elif new_template:
        verb = "configured"
        entry = {"revision": entry["revision"] + 1, "object": document, "previous": entry["object"]}
    else:
        verb, entry["object"] = "configured", document
    cluster.put(namespace, kind, name, entry)
    call.out(f"{shown(kind)}/{name} {verb}")
    if (
        kind == "Deployment"
        and namespace
        and (new_template or cluster.pod(namespace, name) is None)
    ):
        replace_pod(call, cluster, namespace, document)


def replace_pod(call: Call, cluster: Cluster, namespace: str, deployment: dict[str, Any]) -> None:
    """The old pod goes (kube down), the new revision's pod is played."""
    name = deployment["metadata"]["name"]
    old = cluster.pod(namespace, name)
    if old is not None:
        call.record["details"].setdefault("removed", []).append(
            {"pod": old["name"], "podman": pods.down(old)}
        )
    record = pods.play(cluster, namespace, deployment)
    cluster.put_pod(record)
    call.record["details"].setdefault("pods", []).append(record)


def rollout(call: Call, cluster: Cluster, args: Args, words: list[str]) -> int:
    if not words or words[0] not in ("status", "undo"):
        raise Fail(f"kubectl stand-in: `kubectl rollout {' '.join(words[:1])}` is not modelled")
    action, (kind, name) = words[0], target(words[1:], f"rollout {words[0]}")
    if kind != "Deployment":
        raise Fail(f"kubectl stand-in: rollout of a {kind} is not modelled")
    namespace = args.flag("namespace", "default")
    if action == "undo":
        args.only("rollout undo")
        with locked():
            entry = cluster.get(namespace, kind, name)
            if entry is None:
                raise not_found(kind, name)
            if entry["previous"] is None:
                raise Fail(f'error: no rollout history found for deployment "{name}"')
            previous = entry["previous"]
            cluster.put(
                namespace,
                kind,
                name,
                {
                    "revision": entry["revision"] + 1,
                    "object": previous,
                    "previous": entry["object"],
                },
            )
            replace_pod(call, cluster, namespace, previous)
        call.out(f"deployment.apps/{name} rolled back")
        return 0
    args.only("rollout status", "timeout", "watch")
    if cluster.get(namespace, kind, name) is None:
        raise not_found(kind, name)
    limit = duration(args.flag("timeout", "0"))
    deadline = time.monotonic() + limit if limit else None
    record = cluster.pod(namespace, name)
    started = time.monotonic()
    waiting = False
    while not (record and pods.ready(record)):
        if record and record["error"]:
            # A pod that cannot start never will: the outcome a cluster gives at the deadline,
            # given now (the stand-in does not sit out ROLLOUT_TIMEOUT for it).
            raise Fail(
                f'error: deployment "{name}" exceeded its progress deadline (stand-in: {record["error"]})'
            )
        if deadline is not None and time.monotonic() > deadline:
            call.record["details"]["waited_seconds"] = round(time.monotonic() - started, 1)
            raise Fail("error: timed out waiting for the condition")
        if not waiting:
            call.out(
                f'Waiting for deployment "{name}" rollout to finish: 0 of 1 updated replicas are available...'
            )
            waiting = True
        time.sleep(1)
        record = cluster.pod(namespace, name)
    call.record["details"]["waited_seconds"] = round(time.monotonic() - started, 1)
    call.record["details"]["pod"] = record["name"]
    call.out(f'deployment "{name}" successfully rolled out')
    return 0


def selector_matches(selector: str, labels: dict[str, str]) -> bool:
    """Equality-based label selectors (`a=b,c!=d,e`), the kind the Makefile uses."""
    for term in filter(None, selector.split(",")):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif re.fullmatch(r"!?[A-Za-z0-9./_-]+", term.strip()):
            if (term.strip().lstrip("!") in labels) == term.strip().startswith("!"):
                return False
        else:
            raise Fail(f"kubectl stand-in: label selector {selector!r} is not modelled")
    return True


def pod_item(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": record["name"],
            "namespace": record["namespace"],
            "labels": record["labels"],
        },
        "spec": {"containers": [{"name": n, "image": i} for n, i in record["images"].items()]},
        "status": {"phase": pods.phase(record), "podIP": "127.0.0.1"},
    }


def field_matches(selector: str, item: dict[str, Any]) -> bool:
    for term in filter(None, selector.split(",")):
        match = re.fullmatch(r"([a-zA-Z.]+)(!=|==|=)(.*)", term)
        if not match or match.group(1) not in (
            "status.phase",
            "metadata.name",
            "metadata.namespace",
        ):
            raise Fail(f"kubectl stand-in: field selector {selector!r} is not modelled")
        value: Any = item
        for key in match.group(1).split("."):
            value = value[key]
        if (value == match.group(3)) != (match.group(2) != "!="):
            return False
    return True


def jsonpath(template: str, document: dict[str, Any]) -> str:
    """kubectl's -o jsonpath for plain paths: `{.items[0].metadata.name}`, `{.items[*].x}`."""

    def evaluate(expression: re.Match[str]) -> str:
        values: list[Any] = [document]
        steps = re.findall(r"\.([\w-]+)|\[(\*|\d+)\]", expression.group(1))
        if "".join(f".{k}" if k else f"[{i}]" for k, i in steps) != expression.group(1):
            raise Fail(f"kubectl stand-in: jsonpath {template!r} is not modelled")
        for key, index in steps:
            if key:
                values = [v[key] for v in values if isinstance(v, dict) and key in v]
            elif index == "*":
                values = [item for v in values for item in v]
            else:
                for v in values:
                    if int(index) >= len(v):
                        raise Fail(
                            f'error: error executing jsonpath "{template}": Error executing template: '
                            f"array index out of bounds: index {index}, length {len(v)}"
                        )
                values = [v[int(index)] for v in values]
        return " ".join(str(v) for v in values)

    return re.sub(r"\{([^}]*)\}", evaluate, template)


def get(call: Call, cluster: Cluster, args: Args, words: list[str]) -> int:
    args.only("get", "selector", "field-selector", "output")
    if not words or ALIASES.get(words[0].lower()) != "Pod":
        raise Fail(f"kubectl stand-in: `kubectl get {' '.join(words)}` is not modelled (pods only)")
    namespace = args.flag("namespace", "default")
    found = [
        (record, item)
        for record in cluster.pods(namespace)
        if not words[1:] or record["name"] in words[1:]
        for item in [pod_item(record)]
        if selector_matches(args.flag("selector"), record["labels"])
        and field_matches(args.flag("field-selector"), item)
    ]
    call.record["details"]["pods"] = [record["name"] for record, _ in found]
    output = args.flag("output")
    if output.startswith("jsonpath="):
        items = [item for _, item in found]
        call.out(jsonpath(output.removeprefix("jsonpath=").strip("'"), {"items": items}), end="")
    elif output == "name":
        for record, _ in found:
            call.out(f"pod/{record['name']}")
    elif output:
        raise Fail(f"kubectl stand-in: -o {output} is not modelled")
    elif not found:
        call.err(f"No resources found in {namespace} namespace.")
    else:
        call.out(f"{'NAME':<48} {'READY':<7} {'STATUS':<10} RESTARTS")
        for record, item in found:
            state = "1/1" if pods.ready(record) else "0/1"
            call.out(f"{record['name']:<48} {state:<7} {item['status']['phase']:<10} 0")
    return 0


def pod_by_name(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    record = next((r for r in cluster.pods(namespace) if r["name"] == name), None)
    if record is None:
        raise not_found("Pod", name)
    return record


def port_forward(call: Call, cluster: Cluster, args: Args, words: list[str]) -> int:
    """A proxy to the played pod, serving until killed (the Makefile backgrounds and kills it)."""
    args.only("port-forward")
    if len(words) != 2 or not re.fullmatch(r"\d+(:\d+)?", words[1]):
        raise Fail(
            "kubectl stand-in: `kubectl port-forward TYPE/NAME LOCAL:REMOTE` (one port) only"
        )
    kind, name = target(words[:1], "port-forward")
    local, _, remote = words[1].partition(":")
    remote_port = int(remote or local)
    namespace = args.flag("namespace", "default")
    if kind == "Service":
        entry = cluster.get(namespace, "Service", name)
        if entry is None:
            raise not_found("Service", name)
        record, container_port = service_pod(cluster, namespace, entry["object"], remote_port)
    elif kind == "Deployment":
        record = cluster.pod(namespace, name)
        if record is None:
            raise not_found("Deployment", name)
        container_port = remote_port
    elif kind == "Pod":
        record, container_port = pod_by_name(cluster, namespace, name), remote_port
    else:
        raise Fail(f"kubectl stand-in: port-forward to a {kind} is not modelled")
    if pods.phase(record) != "Running":
        raise Fail(
            f"error: unable to forward port because pod is not running. Current status={pods.phase(record)}"
        )
    served = {p.get("containerPort") for p in record["ports"]}
    if container_port not in served:
        raise Fail(
            f"kubectl stand-in: pod {record['name']} declares ports {sorted(served)}, not {container_port}"
        )
    server = pods.forward(
        int(local), record["port"], lambda: print(f"Handling connection for {local}", flush=True)
    )
    call.out(f"Forwarding from 127.0.0.1:{local} -> {container_port}")
    call.record["details"] = {"pod": record["name"], "played_port": record["port"]}
    call.write()  # the call runs until killed: its line is written now
    with server:
        server.serve_forever()
    return 0


def service_pod(
    cluster: Cluster, namespace: str, service: dict[str, Any], remote_port: int
) -> tuple[dict[str, Any], int]:
    """The pod kubectl picks behind a Service (a ready one, the longest-running first) and the
    container port the Service port targets."""
    selector = service["spec"].get("selector", {})
    candidates = [
        r
        for r in cluster.pods(namespace)
        if all(r["labels"].get(k) == v for k, v in selector.items()) and pods.phase(r) == "Running"
    ]
    if not candidates:
        raise Fail(f"error: no running pod behind service/{service['metadata']['name']}")
    candidates.sort(key=lambda r: (not pods.ready(r), r["started"]))
    record = candidates[0]
    port = next((p for p in service["spec"].get("ports", []) if p.get("port") == remote_port), None)
    if port is None:
        raise Fail(
            f"error: Service {service['metadata']['name']} does not have a service port {remote_port}"
        )
    wanted = port.get("targetPort", remote_port)
    if isinstance(wanted, str):
        wanted = next(
            (p["containerPort"] for p in record["ports"] if p.get("name") == wanted), wanted
        )
    return record, wanted


def wait(call: Call, cluster: Cluster, args: Args, words: list[str]) -> int:
    args.only("wait", "for", "timeout")
    kind, name = target(words, "wait")
    condition = args.flag("for")
    if (kind, condition) not in (("Pod", "condition=Ready"), ("Deployment", "condition=Available")):
        raise Fail(f"kubectl stand-in: `kubectl wait --for={condition} {kind}` is not modelled")
    namespace = args.flag("namespace", "default")
    deadline = time.monotonic() + duration(args.flag("timeout", "30s"))
    while True:
        if kind == "Pod":
            record = pod_by_name(cluster, namespace, name)
        else:
            found = cluster.pod(namespace, name)
            if found is None:
                raise not_found(kind, name)
            record = found
        if pods.ready(record):
            call.out(f"{shown(kind)}/{name} condition met")
            return 0
        if time.monotonic() > deadline:
            raise Fail(f"error: timed out waiting for the condition on {plural(kind)}/{name}")
        time.sleep(1)


def delete(call: Call, cluster: Cluster, args: Args, words: list[str]) -> int:
    args.only("delete", "ignore-not-found", "wait")
    kind, name = target(words, "delete")
    if kind in ("Pod", "Namespace"):
        raise Fail(f"kubectl stand-in: deleting a {kind} is not modelled")
    namespace = None if kind in CLUSTER_SCOPED else args.flag("namespace", "default")
    with locked():
        if not cluster.remove(namespace, kind, name):
            if args.flag("ignore-not-found") == "true":
                return 0
            raise not_found(kind, name)
        if kind == "Deployment" and namespace:
            record = cluster.pod(namespace, name)
            if record is not None:
                call.record["details"]["removed"] = {
                    "pod": record["name"],
                    "podman": pods.down(record),
                }
                cluster.remove_pod(namespace, name)
    call.out(f'{shown(kind)} "{name}" deleted')
    return 0


def describe(call: Call, cluster: Cluster, args: Args, words: list[str]) -> int:
    """What a person debugging a failed rollout needs: state, image, error, the pod's log."""
    args.only("describe")
    if not words or ALIASES.get(words[0].split("/")[0].lower()) != "Pod":
        raise Fail(
            f"kubectl stand-in: `kubectl describe {' '.join(words)}` is not modelled (pods only)"
        )
    namespace = args.flag("namespace", "default")
    names = words[1:] or [w.split("/", 1)[1] for w in words[:1] if "/" in w]
    records = [r for r in cluster.pods(namespace) if not names or r["name"] in names]
    if not records:
        call.err(f"No resources found in {namespace} namespace.")
    for record in records:
        labels = ",".join(f"{k}={v}" for k, v in record["labels"].items())
        call.out(f"Name:         {record['name']}")
        call.out(f"Namespace:    {namespace}")
        call.out(f"Labels:       {labels}")
        call.out(f"Status:       {pods.phase(record)}")
        call.out(f"Ready:        {pods.ready(record)} (readiness: {record['readiness'] or 'none'})")
        call.out(f"Images:       {', '.join(record['images'].values())}")
        call.out(
            f"Played as:    podman pod {record['podman_pod']} on 127.0.0.1:{record['port']} (hostNetwork)"
        )
        if record["error"]:
            call.out(f"Error:        {record['error']}")
        call.out("Logs (podman pod logs, last 40 lines):")
        for line in pods.logs(record).splitlines():
            call.out(f"  {line}")
        call.out("")
    return 0
