"""Prediction log: what the service saw and answered, for the drift check to read back.

One JSON line per request: a timezone-aware UTC timestamp, the model version and threshold,
the probabilities, and the request's flights exactly as validated. The request is written
as the client sent it (line breaks outside strings are only whitespace in JSON, so they are
blanked), which costs nothing per row; serialising a thousand rows again would cost 3 ms, a
tenth of a batch. `read_predictions` recomputes the features with `build_features`, the
pipeline's own code, so the table it returns has the training table's columns and dtypes by
construction.

Each worker process appends to its own file per UTC day
(`predictions-YYYY-MM-DD-<pid>.jsonl`): no interleaved writes between processes, and
retention is deleting old days.
"""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from contrail.features import FEATURES, build_features

DEFAULT_DIRECTORY = Path("monitoring/predictions")
DIRECTORY_ENV = "CONTRAIL_PREDICTION_LOG_DIR"


def log_directory() -> Path:
    """Where the service writes: $CONTRAIL_PREDICTION_LOG_DIR, else monitoring/predictions."""
    return Path(os.environ.get(DIRECTORY_ENV) or DEFAULT_DIRECTORY)


class PredictionLog:
    """Append-only JSON-lines sink for one process."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._day: datetime.date | None = None
        self._file: IO[bytes] | None = None

    def _file_for(self, now: datetime.datetime) -> IO[bytes]:
        if self._file is None or now.date() != self._day:
            self.close()
            self.directory.mkdir(parents=True, exist_ok=True)
            self._day = now.date()
            name = f"predictions-{self._day.isoformat()}-{os.getpid()}.jsonl"
            self._file = (self.directory / name).open("ab")
        return self._file

    def write(
        self, request_json: bytes, probability: np.ndarray, threshold: float, model_version: str
    ) -> None:
        """Record one validated request body (`{"flights": [...]}`) and its probabilities."""
        now = datetime.datetime.now(datetime.UTC)
        head = json.dumps(
            {
                "timestamp": now.isoformat(),
                "model_version": model_version,
                "threshold": threshold,
                "probability": probability.tolist(),
            },
            separators=(",", ":"),
        )
        one_line = request_json.replace(b"\n", b" ").replace(b"\r", b" ")
        file = self._file_for(now)
        file.write(head[:-1].encode() + b',"request":' + one_line + b"}\n")
        file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_predictions(directory: Path, features: list[str]) -> pd.DataFrame:
    """Every logged flight, oldest first: the model's features as in training, plus
    `probability`, `delayed`, `model_version` and `timestamp` (UTC)."""
    flights: list[dict[str, Any]] = []
    served: dict[str, list[Any]] = {
        "probability": [],
        "threshold": [],
        "model_version": [],
        "timestamp": [],
    }
    for path in sorted(directory.glob("predictions-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            rows = record["request"]["flights"]
            flights.extend(rows)
            served["probability"].extend(record["probability"])
            for key in ("threshold", "model_version", "timestamp"):
                served[key].extend([record[key]] * len(rows))
    table = build_features(pd.DataFrame(flights), features) if flights else _empty(features)
    table["probability"] = pd.Series(served["probability"], dtype="float64")
    table["delayed"] = table["probability"] >= pd.Series(served["threshold"], dtype="float64")
    table["model_version"] = pd.Series(served["model_version"], dtype="string")
    table["timestamp"] = pd.to_datetime(
        pd.Series(served["timestamp"], dtype="object"), utc=True, format="ISO8601"
    )
    return table.sort_values("timestamp", kind="stable").reset_index(drop=True)


def _empty(features: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            name: pd.Series(dtype="string" if FEATURES[name].kind == "categorical" else "float64")
            for name in features
        }
    )
