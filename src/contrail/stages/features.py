"""`contrail features`: model inputs and labels, and the time-based train/test split."""

from __future__ import annotations

from contrail import paths
from contrail.features import LABEL, feature_table, split_train_test
from contrail.io import read_parquet, write_json, write_parquet
from contrail.params import Params
from contrail.stages import log, step


def run(params: Params) -> None:
    window, current = read_parquet(paths.RAW_WINDOW), read_parquet(paths.RAW_CURRENT)
    columns, delay = params.features.columns, params.target.delay_minutes
    with step("build features"):
        window_table = feature_table(window, columns, delay)
        current_table = feature_table(current, columns, delay)
    train, test = split_train_test(window, window_table, params.data.end)
    # Everything is computed before the first write: a failure leaves the last outputs whole.
    stats = {
        "train_rows": len(train),
        "test_rows": len(test),
        "current_rows": len(current_table),
        "dropped_no_arrival": int(window_table[LABEL].isna().sum()),
        "train_delay_rate": round(float(train[LABEL].mean()), 6),
        "test_delay_rate": round(float(test[LABEL].mean()), 6),
        "current_delay_rate": round(float(current_table[LABEL].mean()), 6),
    }
    with step("write data/features"):
        write_parquet(paths.TRAIN, train)
        write_parquet(paths.TEST, test)
        write_parquet(paths.CURRENT, current_table)
    write_json(paths.FEATURE_STATS, stats)
    log.info(
        "  train %s rows, test %s rows; %s cancelled/diverted flights (no arrival) dropped",
        f"{len(train):,}",
        f"{len(test):,}",
        f"{stats['dropped_no_arrival']:,}",
    )
