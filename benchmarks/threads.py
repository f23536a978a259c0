"""Time the model's fit on an idle machine and beside a process that keeps one core busy.

That neighbour is a shared CI runner or a CPU-limited pod as the workflows, the monitor's
retraining and the service meet them: scikit-learn's OpenMP threads, by default one per core
and spinning while they wait, then wait for a core they do not get (scikit-learn #16429,
#30662). Three settings, each fit in its own process with its variables in the environment
before scikit-learn loads, as the `contrail` command sets them:
- contrail's: the command's environment (`contrail.cpus`: a thread per usable CPU, idle
  threads sleep) and `contrail.model.fit`'s fixed thread count (FIT_THREADS);
- the same environment, the fit left at the process's count (a sleeping thread per CPU);
- scikit-learn's defaults: none of the variables set, a spinning thread per CPU (the before).
Only `contrail.model.fit` on the configured window's training features is timed (the bare fit
of benchmarks/pipeline.py). Every fit's saved model is hashed: the settings must not change a
byte of it (dvc.lock records its md5). Goal: contrail's fit beside the busy process takes at
most 1.5x its idle time.
Usage: python benchmarks/threads.py  (from the repository root; `make bench-threads`)
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
GOAL = 1.5  # contrail's fit beside a busy process, at most this many times its idle time
VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY")
BUSY = [sys.executable, "-c", "while True: pass"]


class Fit(NamedTuple):
    seconds: float
    threads: int
    md5: str


def fit_once(features: Path, threads: int | None) -> None:
    """Fit, save; print seconds, threads and the saved model's md5 (`--fit FILE [THREADS]`)."""
    import pandas as pd
    from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

    from contrail.model import fit
    from contrail.model_card import PIPELINE_FILE
    from contrail.params import load_params

    params = load_params(ROOT / "params.yaml")
    train = pd.read_parquet(features)
    start = time.perf_counter()
    model = fit(train, params, threads)
    seconds = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        model.save(Path(tmp))
        md5 = hashlib.md5((Path(tmp) / PIPELINE_FILE).read_bytes()).hexdigest()
    print(json.dumps(Fit(seconds, threads or _openmp_effective_n_threads(), md5)))


def training_features(path: Path) -> int:
    """The configured window's training features, as the pipeline builds them, into `path`."""
    from contrail.data import sources
    from contrail.features import feature_table, split_train_test
    from contrail.params import load_params

    params = load_params(ROOT / "params.yaml")
    window, _ = sources.split_window(sources.read_source(params.data.source), params.data)
    table = feature_table(window, params.features.columns, params.target.delay_minutes)
    train, _ = split_train_test(window, table, params.data.end)
    train.to_parquet(path)
    return len(train)


def timed_fit(features: Path, settings: tuple[dict[str, str], int | None]) -> Fit:
    environment, threads = settings
    base = {name: value for name, value in os.environ.items() if name not in VARIABLES}
    done = subprocess.run(
        [sys.executable, __file__, "--fit", str(features), *([str(threads)] if threads else [])],
        env={**base, **environment}, capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    if done.returncode:
        sys.exit(f"fit failed under {settings}:\n{done.stderr}")
    return Fit(*json.loads(done.stdout.splitlines()[-1]))


def main() -> None:
    from contrail import cpus
    from contrail.model import FIT_THREADS

    usable = cpus.usable_cpus()
    command = cpus.thread_environment(usable)
    settings: dict[str, tuple[dict[str, str], int | None]] = {
        f"contrail: fit on {FIT_THREADS}, sleeping": (command, FIT_THREADS),
        "a thread per usable CPU, sleeping": (command, None),
        "scikit-learn defaults, spinning": ({}, None),
    }
    with tempfile.TemporaryDirectory(prefix="contrail-threads-") as tmp:
        features = Path(tmp) / "train.parquet"
        rows = training_features(features)
        idle = {name: timed_fit(features, env) for name, env in settings.items()}
        busy_loop = subprocess.Popen(BUSY)
        try:
            busy = {name: timed_fit(features, env) for name, env in settings.items()}
        finally:
            busy_loop.kill()
            busy_loop.wait()
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    print(
        f"fit on {rows:,} training rows; {os.cpu_count()} cores, affinity {affinity}, "
        f"cgroup quota {cpus.cgroup_cpus() or 'none'}: {usable} usable CPUs"
    )
    print(f"{'settings':<36} {'threads':>7} {'idle s':>7} {'busy s':>7}  busy/idle")
    for name in settings:
        print(
            f"{name:<36} {idle[name].threads:>7} {idle[name].seconds:7.1f} "
            f"{busy[name].seconds:7.1f}  {busy[name].seconds / idle[name].seconds:.1f}x"
        )
    contrail = next(iter(settings))
    ratio = busy[contrail].seconds / idle[contrail].seconds
    verdict = "met" if ratio <= GOAL else "MISSED"
    print(f"goal: contrail's fit beside a busy process <= {GOAL}x idle: {ratio:.2f}x, {verdict}")
    defaults = list(settings)[-1]
    print(
        f"contrail's fit against scikit-learn's defaults: "
        f"{idle[contrail].seconds / idle[defaults].seconds:.1f}x the time idle, "
        f"{busy[contrail].seconds / busy[defaults].seconds:.2f}x beside the busy process"
    )
    hashes = {run.md5 for run in [*idle.values(), *busy.values()]}
    same = "identical in every run" if len(hashes) == 1 else f"{len(hashes)} DIFFERENT models"
    print(f"model.joblib: {same} ({', '.join(sorted(hashes))})")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--fit"]:
        fit_once(Path(sys.argv[2]), int(sys.argv[3]) if sys.argv[3:] else None)
    else:
        main()
