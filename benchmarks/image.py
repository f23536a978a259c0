"""Container image: size, cold start to /readyz, a read-only root filesystem (issues 9, 18).

Builds the real Bento (`contrail package`, then `bentoml containerize --backend podman`) or
takes an existing image (`--image`), then:

- prints the image size (`podman image inspect --format '{{.Size}}'`) and its layers' sizes;
- starts it `--network host` on a free port and times `podman run` -> first /readyz 200
  (best and median of `--runs` cold starts, each once the CPUs were idle for a second, waiting
  up to `--idle-wait` seconds for it);
- checks /metadata, the README's /predict example, a malformed request (4xx), /metrics;
- runs it again with `--read-only` and exactly the writable mounts the Kubernetes manifest
  gives it (WRITABLE_DIRS, tmpfs here, emptyDirs there) and repeats the checks;
- runs it once more, every process recording the modules it imports (RECORDER), through the
  checks, `contrail smoke` and the documentation page, and names those that have no bytecode in
  the image: the image keeps the bytecode of the modules in src/contrail/release/
  image-imports.txt only (contrail/release/bytecode.py), and the others are compiled at each
  start. `--write-imports` writes that list instead; rebuild the image after it.

Needs podman (`../shared/tools/container-engine.sh` on a machine without Docker). Never pushes.

    python benchmarks/image.py                       # package + build + measure
    python benchmarks/image.py --image contrail-img:slim --runs 5
    python benchmarks/image.py --write-imports       # after a dependency change, then rebuild
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from contrail.release import bytecode
from contrail.serving.smoke import Smoke, client_for, run_checks

REPO = Path(__file__).resolve().parents[1]
MANIFESTS = REPO / "deploy/base"
# Used when deploy/base has no writable-dirs.yaml: /tmp (Python's tempfiles), BentoML's home
# (it creates its store dirs and the Prometheus multiprocess folder there at start) and the
# prediction log.
DEFAULT_WRITABLE = (
    "/tmp",
    "/home/bentoml/bentos",
    "/home/bentoml/models",
    "/home/bentoml/envs",
    "/home/bentoml/tmp",
    "/home/bentoml/prometheus_multiproc_dir",
    "/home/bentoml/predictions",
)
# The service's runtime packages; `--print-pins` prints their closure as the venv has it.
RUNTIME_ROOTS = (
    "bentoml",
    "joblib",
    "numpy",
    "pandas",
    "pandera",
    "pydantic",
    "pyyaml",
    "scikit-learn",
    "scipy",
    "threadpoolctl",
)
# Installed as `sitecustomize` for the tracing run: each process writes the modules imported
# before it, then every module it looks up, to its own file (a shared stream such as
# `-X importtime`'s stderr mixes concurrent workers' lines: about 40 modules were lost that way).
# Lookups that find nothing (optional dependencies) are recorded too: harmless.
RECORDER = """\
import os, sys
class _Recorder:
    out = open(f"/contrail-imports/{os.getpid()}", "a", buffering=1)
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        cls.out.write(name + "\\n")
_Recorder.out.write("".join(name + "\\n" for name in sys.modules))
sys.meta_path.insert(0, _Recorder)
"""
IDLE_SHARE = 0.95
EXAMPLE = {
    "flights": [
        {
            "carrier": "UA",
            "origin": "EWR",
            "dest": "IAH",
            "sched_dep_time": 515,
            "sched_arr_time": 819,
            "year": 2013,
            "month": 7,
            "day": 1,
            "distance": 1400,
            "temp": 68.0,
            "dewp": 64.0,
            "humid": 87.0,
            "wind_dir": 200.0,
            "wind_speed": 8.06,
            "wind_gust": None,
            "precip": 0.0,
            "pressure": 1013.1,
            "visib": 10.0,
        }
    ]
}


def manifest_mounts_and_env() -> tuple[list[str], dict[str, str]]:
    """The mountPaths of deploy/base/writable-dirs.yaml and the container's plain env values
    of deploy/base/deployment.yaml: the read-only run is the pod's, not a guess."""
    import yaml

    mounts, env = list(DEFAULT_WRITABLE), {}
    patch = MANIFESTS / "writable-dirs.yaml"
    if patch.exists():
        (container,) = yaml.safe_load(patch.read_text())["spec"]["template"]["spec"]["containers"]
        mounts = [
            m["mountPath"] + (":ro" if m.get("readOnly") else "") for m in container["volumeMounts"]
        ]
    deployment = MANIFESTS / "deployment.yaml"
    if deployment.exists():
        for doc in yaml.safe_load_all(deployment.read_text()):
            for container in (
                (doc or {})
                .get("spec", {})
                .get("template", {})
                .get("spec", {})
                .get("containers", [])
            ):
                env.update(
                    {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
                )
    return mounts, env


def print_pins() -> None:
    """The runtime closure of RUNTIME_ROOTS with the installed (uv.lock) versions, for Linux
    x86_64 / CPython 3.11, as bentofile.yaml's `python.packages` lines."""
    import importlib.metadata as md

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    target = {
        "python_version": "3.11",
        "python_full_version": "3.11.0",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "x86_64",
        "os_name": "posix",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
    }
    seen: dict[str, frozenset[str]] = {}
    stack = [(name, frozenset[str]()) for name in RUNTIME_ROOTS]
    while stack:
        name, extras = stack.pop()
        key = canonicalize_name(name)
        if key in seen and extras <= seen[key]:
            continue
        seen[key] = seen.get(key, frozenset()) | extras
        for line in md.distribution(name).requires or []:
            req = Requirement(line)
            if req.marker and not any(
                req.marker.evaluate({**target, "extra": extra}) for extra in seen[key] or {""}
            ):
                continue
            stack.append((req.name, frozenset(req.extras)))
    for pinned in sorted(seen):
        print(f"    - {pinned}=={md.version(pinned)}")


def idle_share(seconds: float = 1.0) -> float:
    """The share of the CPUs' time spent idle over the next `seconds` (/proc/stat)."""

    def idle_and_total() -> tuple[int, int]:
        with open("/proc/stat") as stat:
            ticks = [int(field) for field in stat.readline().split()[1:]]
        return ticks[3] + ticks[4], sum(ticks)  # idle + iowait

    idle0, total0 = idle_and_total()
    time.sleep(seconds)
    idle1, total1 = idle_and_total()
    return (idle1 - idle0) / max(total1 - total0, 1)


def wait_for_idle(timeout_s: float) -> bool:
    """Whether the CPUs were IDLE_SHARE idle for a second within timeout_s: a cold start beside
    another busy process takes 20-70% longer here."""
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        if idle_share() >= IDLE_SHARE:
            return True
    return False


def free_port(preferred: int) -> int:
    """`preferred` if nothing listens there (0: any free port); the container uses host networking."""
    with socket.socket() as s:
        try:
            s.bind(("0.0.0.0", preferred))
        except OSError:
            s.bind(("0.0.0.0", 0))
        return int(s.getsockname()[1])


def run(*cmd: str, env: dict[str, str] | None = None, cwd: str | None = None) -> str:
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd)
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return result.stdout + result.stderr


def build(name: str, bentoml_home: str, extra_opts: list[str]) -> str:
    env = {**os.environ, "BENTOML_HOME": bentoml_home}
    out = run(str(Path(sys.executable).parent / "contrail"), "package", env=env)
    match = re.search(r"built Bento (\S+)", out)
    if not match:
        sys.exit(f"no Bento tag in `contrail package` output:\n{out}")
    bento = match.group(1)
    started = time.perf_counter()
    opts = [f"--opt={o}" for o in ["network=host", *extra_opts]]
    # cwd "/": BentoML 1.4.39 re-resolves a Bento's Dockerfile.template inside a temporary
    # export and refuses it unless that lies under the working directory.
    run(
        sys.executable,
        "-m",
        "bentoml",
        "containerize",
        bento,
        "--backend",
        "podman",
        *opts,
        "-t",
        name,
        env=env,
        cwd="/",
    )
    print(f"bento {bento}: image {name} built in {time.perf_counter() - started:.0f} s")
    return name


def request(
    url: str, body: bytes | None = None, ctype: str = "application/json"
) -> tuple[int, str]:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def start(image: str, port: int, read_only: bool, extra: tuple[str, ...] = ()) -> tuple[str, float]:
    """Start a container; return its id and the seconds from `podman run` to /readyz 200.

    Read-only: the pod's settings (readOnlyRootFilesystem, uid 1034, the manifest's env and
    exactly its writable mounts, as tmpfs owned by the user like fsGroup'd emptyDirs)."""
    flags = list(extra)
    if read_only:
        mounts, env = manifest_mounts_and_env()
        flags += ["--read-only", "--read-only-tmpfs=false", "--user", "1034:1034"]
        flags += [f"--env={k}={v}" for k, v in env.items()]
        for mount in mounts:
            path, _, ro = mount.partition(":")
            flags += ["--tmpfs", f"{path}:{ro or 'rw'},size=64m,mode=0770,U"]
    t0 = time.perf_counter()
    cid = (
        run("podman", "run", "-d", "--network", "host", "-e", f"PORT={port}", *flags, image)
        .strip()
        .splitlines()[-1]
    )
    deadline = t0 + 120
    while time.perf_counter() < deadline:
        try:
            status, _ = request(f"http://127.0.0.1:{port}/readyz")
            if status == 200:
                elapsed = time.perf_counter() - t0
                state = run("podman", "inspect", "--format", "{{.State.Running}}", cid).strip()
                if state != "true":  # another server answered on this port
                    stop(cid)
                    sys.exit(f"port {port} is taken by another server")
                return cid, elapsed
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        if subprocess.run(["podman", "container", "exists", cid]).returncode != 0:
            break
        time.sleep(0.05)
    logs = subprocess.run(["podman", "logs", cid], capture_output=True, text=True)
    stop(cid)
    sys.exit(f"not ready after {time.perf_counter() - t0:.0f} s:\n{logs.stdout}{logs.stderr}")


def stop(cid: str) -> None:
    subprocess.run(["podman", "rm", "-f", "-t", "2", cid], capture_output=True)


def check(port: int) -> dict[str, object]:
    base = f"http://127.0.0.1:{port}"
    meta_status, _ = request(f"{base}/metadata")
    pred_status, pred = request(f"{base}/predict", json.dumps(EXAMPLE).encode())
    bad_status, bad = request(f"{base}/predict", b'{"flights": [{"carrier": "UA"}]}')
    metrics_status, metrics = request(f"{base}/metrics")
    ok = (
        meta_status == 200
        and pred_status == 200
        and 400 <= bad_status < 500
        and metrics_status == 200
        and "predictions" in pred
    )
    return {
        "ok": ok,
        "metadata": meta_status,
        "predict": pred_status,
        "prediction": pred,
        "malformed": bad_status,
        "malformed_body": bad[:200],
        "metrics": metrics_status,
        "metrics_lines": len(metrics.splitlines()),
    }


def layer_sizes(image: str) -> list[int]:
    """The size in bytes of each layer with files, base first."""
    history = json.loads(run("podman", "history", "--format", "json", image))
    return [int(layer["size"]) for layer in reversed(history) if layer["size"]]


def trace_imports(image: str, port: int) -> set[str]:
    """Every module any process of the service imports while it starts and serves the checks,
    the smoke test and the documentation page (RECORDER)."""
    with tempfile.TemporaryDirectory() as scratch:
        site, out = Path(scratch, "site"), Path(scratch, "imports")
        site.mkdir()
        out.mkdir(mode=0o777)
        out.chmod(0o777)  # written by the image's uid 1034
        (site / "sitecustomize.py").write_text(RECORDER)
        mounts = (f"--volume={site}:/contrail-trace:ro", f"--volume={out}:/contrail-imports")
        cid, _ = start(image, port, False, (*mounts, "--env=PYTHONPATH=/contrail-trace"))
        try:
            check(port)
            with client_for(f"http://127.0.0.1:{port}") as client:
                failed = [r.line() for r in run_checks(Smoke(client)) if not r.ok]
                for page in ("/", "/docs.json"):
                    client.get(page)
        finally:
            stop(cid)
        if failed:
            sys.exit(f"contrail smoke failed while tracing imports: {failed}")
        return {name for each in out.iterdir() for name in each.read_text().split()}


def without_bytecode(image: str, modules: set[str]) -> list[str]:
    """The modules, of those given, whose source is in the image's venv but not their bytecode."""
    script = f"--volume={bytecode.__file__}:/tmp/bytecode.py:ro"
    result = subprocess.run(
        ["podman", "run", "--rm", "-i", "--network", "none", script, "--entrypoint", "sh", image,
         "-c", "exec python3 /tmp/bytecode.py missing /app/.venv/lib/python3*/site-packages /dev/stdin"],
        input="\n".join(sorted(modules)), capture_output=True, text=True,
    )  # fmt: skip
    if result.returncode not in (0, 1):
        sys.exit(f"bytecode.py missing failed in {image}:\n{result.stderr[-2000:]}")
    return result.stdout.split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", help="measure this image instead of building one")
    parser.add_argument("--tag", default="contrail-img:bench", help="name of the built image")
    parser.add_argument(
        "--bentoml-home",
        default="/tmp/bentoml-img",
        help="scratch BentoML store for the build (not the user's)",
    )
    parser.add_argument(
        "--opt", action="append", default=[], help="extra `bentoml containerize --opt` (repeatable)"
    )
    parser.add_argument("--port", type=int, default=0, help="host port (0: any free one)")
    parser.add_argument("--runs", type=int, default=3, help="cold starts to time")
    parser.add_argument(
        "--idle-wait",
        type=float,
        default=120,
        help="seconds to wait for idle CPUs before each timed cold start (0: don't)",
    )
    parser.add_argument(
        "--write-imports",
        action="store_true",
        help=f"write the modules the service imports to {bytecode.IMPORTS_FILE.relative_to(REPO)}",
    )
    parser.add_argument(
        "--print-pins",
        action="store_true",
        help="print bentofile.yaml's python.packages from this venv and exit",
    )
    args = parser.parse_args()
    if args.print_pins:
        print_pins()
        return

    image = args.image or build(args.tag, args.bentoml_home, args.opt)
    size = int(run("podman", "image", "inspect", "--format", "{{.Size}}", image).strip())
    print(f"image {image}: {size / 1e6:.0f} MB ({size} bytes)")
    layers = ", ".join(f"{layer / 1e6:.1f}" for layer in layer_sizes(image))
    print(f"layers (MB, base first): {layers}")
    port = free_port(args.port)

    times, busy = [], 0
    for i in range(args.runs):
        busy += args.idle_wait > 0 and not wait_for_idle(args.idle_wait)
        cid, seconds = start(image, port, read_only=False)
        times.append(seconds)
        if i == args.runs - 1:
            result = check(port)
            user = run("podman", "exec", cid, "id", "-u").strip()
            threads = run("podman", "exec", cid, "printenv", "OMP_NUM_THREADS").strip()
        stop(cid)
    load = f"{busy} of them beside other work" if busy else f"each on {IDLE_SHARE:.0%} idle CPUs"
    print(
        f"ready: best {min(times):.2f} s, median {statistics.median(times):.2f} s over "
        f"{args.runs} cold starts ({', '.join(f'{t:.2f}' for t in times)}), "
        + (load if args.idle_wait > 0 else "CPU load not checked")
    )
    print(f"uid {user}, OMP_NUM_THREADS={threads}")
    print(f"checks: {json.dumps(result)}")

    if args.idle_wait > 0:
        wait_for_idle(args.idle_wait)
    cid, seconds = start(image, port, read_only=True)
    ro = check(port)
    stop(cid)
    print(
        f"read-only ({', '.join(manifest_mounts_and_env()[0])} writable): ready {seconds:.2f} s, "
        f"checks {'OK' if ro['ok'] else 'FAILED'}: {json.dumps(ro)}"
    )

    modules = trace_imports(image, port)
    if args.write_imports:
        bytecode.IMPORTS_FILE.write_text(
            "# Every module the service imported in the image: `python benchmarks/image.py"
            " --write-imports`.\n" + "".join(f"{m}\n" for m in sorted(modules))
        )
        print(f"wrote {len(modules)} modules to {bytecode.IMPORTS_FILE}: rebuild the image")
    else:
        absent = without_bytecode(image, modules)
        names = f" ({', '.join(absent[:8])}: `--write-imports`, then rebuild)" if absent else ""
        print(f"imports: {len(modules)} looked up, {len(absent)} without bytecode{names}")
    if not (result["ok"] and ro["ok"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
