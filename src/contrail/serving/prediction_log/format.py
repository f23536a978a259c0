"""The prediction log's format and rules: its record, its file names, and when a file rotates,
ships or is dropped. Pure: the writer applies these rules, the reader relies on them.

Record. One JSON line per request: a timezone-aware UTC timestamp, the model version and
threshold, the probabilities, and the request's flights exactly as validated. The request is
written as the client sent it (line breaks outside strings are only whitespace in JSON, so they
are blanked), which costs nothing per row; serialising a thousand rows again would cost 3 ms, a
tenth of a batch.

Files. Each worker process writes its own file (no interleaved writes between processes),
`predictions-<UTC open time>-<host>-<pid>-<seq>.jsonl.open`, and rotates it by renaming it to
`....jsonl` once it would exceed a size or has been open for an age, whichever comes first.
Names sort by open time and are unique per pod and process, so files from many pods can share
one store folder; the `.open` suffix keeps a half-written file out of `predictions-*.jsonl`
(what is shipped).

Retention. Closed files not shipped (no store, or the store unreachable) are deleted when older
than a maximum age, then oldest first while the folder exceeds a total size. The defaults keep
a pod's folder under 512 MiB + one open file, inside deploy/'s 1 GiB emptyDir limit (a pod
exceeding it is evicted).

Configuration (environment; sizes in bytes, ages in seconds):
- CONTRAIL_PREDICTION_LOG_DIR: the folder (default monitoring/predictions);
- CONTRAIL_PREDICTION_LOG_STORE: where closed files go, a local path or an fsspec URL such as
  s3://bucket/prefix or gs://bucket/prefix (default: none, files stay local). Remote schemes
  need their fsspec plugin (s3fs, gcsfs, adlfs) in the image, which ships only fsspec itself;
  credentials come from that plugin's usual sources (workload identity, environment);
- CONTRAIL_PREDICTION_LOG_ROTATE_BYTES (67108864, 64 MiB: 2 minutes at 1,000 single-flight
  requests per second) and CONTRAIL_PREDICTION_LOG_ROTATE_SECONDS (900);
- CONTRAIL_PREDICTION_LOG_KEEP_BYTES (536870912, 512 MiB) and
  CONTRAIL_PREDICTION_LOG_KEEP_SECONDS (604800, 7 days).
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

DEFAULT_DIRECTORY = Path("monitoring/predictions")
DIRECTORY_ENV = "CONTRAIL_PREDICTION_LOG_DIR"
STORE_ENV = "CONTRAIL_PREDICTION_LOG_STORE"
ROTATE_BYTES_ENV = "CONTRAIL_PREDICTION_LOG_ROTATE_BYTES"
ROTATE_SECONDS_ENV = "CONTRAIL_PREDICTION_LOG_ROTATE_SECONDS"
KEEP_BYTES_ENV = "CONTRAIL_PREDICTION_LOG_KEEP_BYTES"
KEEP_SECONDS_ENV = "CONTRAIL_PREDICTION_LOG_KEEP_SECONDS"

PREFIX = "predictions-"
CLOSED_SUFFIX = ".jsonl"
# What a file's name loses when it is closed.
_STILL_OPEN = ".open"
OPEN_SUFFIX = CLOSED_SUFFIX + _STILL_OPEN
# A writer creates its file before it takes the lock: an unlocked `.open` file is abandoned
# only once nothing has written to it for this long.
ABANDONED_AFTER_S = 60
_MiB = 1024 * 1024


def log_directory() -> Path:
    """Where the service writes: $CONTRAIL_PREDICTION_LOG_DIR, else monitoring/predictions."""
    return Path(os.environ.get(DIRECTORY_ENV) or DEFAULT_DIRECTORY)


@dataclass(frozen=True)
class LogSettings:
    """Rotation, shipping and retention limits (module docstring: environment variables)."""

    rotate_bytes: int = 64 * _MiB
    rotate_seconds: int = 15 * 60
    keep_bytes: int = 512 * _MiB
    keep_seconds: int = 7 * 24 * 3600
    store: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> LogSettings:
        """Settings from the environment; a malformed value stops start-up with its name."""

        def positive(name: str, default: int) -> int:
            text = environ.get(name, "").strip()
            if not text:
                return default
            if not text.isdigit() or int(text) == 0:
                raise ValueError(f"{name}={text!r}: expected a positive whole number")
            return int(text)

        return cls(
            rotate_bytes=positive(ROTATE_BYTES_ENV, cls.rotate_bytes),
            rotate_seconds=positive(ROTATE_SECONDS_ENV, cls.rotate_seconds),
            keep_bytes=positive(KEEP_BYTES_ENV, cls.keep_bytes),
            keep_seconds=positive(KEEP_SECONDS_ENV, cls.keep_seconds),
            store=environ.get(STORE_ENV, "").strip() or None,
        )


@dataclass(frozen=True)
class LogFile:
    """A file in the log folder as last seen: `modified` is its mtime, POSIX seconds."""

    path: Path
    size: int
    modified: float


class Record(NamedTuple):
    """One logged request: its flights as sent, one probability each, and what answered."""

    flights: list[dict[str, Any]]
    probability: list[float]
    threshold: float
    model_version: str
    timestamp: str


def record_line(
    request_json: bytes,
    probability: np.ndarray,
    threshold: float,
    model_version: str,
    now: datetime.datetime,
) -> bytes:
    """The log line of one validated request body (`{"flights": [...]}`), newline included."""
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
    return head[:-1].encode() + b',"request":' + one_line + b"}\n"


def parse_record(line: bytes) -> Record:
    """The request a line records; ValueError for a line that records none (the cut-off last
    line of a process that died)."""
    try:
        record = json.loads(line)
        rows = record["request"]["flights"]
        probability = record["probability"]
        if not isinstance(rows, list) or len(rows) != len(probability):
            raise ValueError("flights and probabilities differ in number")
        return Record(
            rows, probability, record["threshold"], record["model_version"], record["timestamp"]
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not a prediction record: {exc!r}") from None


def file_name(opened: datetime.datetime, host: str, pid: int, seq: int) -> str:
    """The open file's name: UTC open time first (names sort by time), then what makes it
    unique across pods sharing a store and across processes sharing a folder."""
    stamp = opened.astimezone(datetime.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"{PREFIX}{stamp}-{host}-{pid}-{seq:06d}{OPEN_SUFFIX}"


def is_closed(name: str) -> bool:
    return name.startswith(PREFIX) and name.endswith(CLOSED_SUFFIX)


def is_open(name: str) -> bool:
    return name.startswith(PREFIX) and name.endswith(OPEN_SUFFIX)


def closed_name(name: str) -> str:
    """The name a log file has once closed (unchanged if it is)."""
    return name.removesuffix(_STILL_OPEN)


def open_name(closed: str) -> str:
    """The name a closed log file had while it was written."""
    return closed + _STILL_OPEN


def rotation_due(
    size: int,
    opened: datetime.datetime,
    now: datetime.datetime,
    line_bytes: int,
    limits: LogSettings,
) -> bool:
    """Whether the open file must be closed before a line of `line_bytes` goes in (0: no line).
    A file with nothing in it is never rotated, so one line larger than the limit still fits."""
    too_old = (now - opened).total_seconds() >= limits.rotate_seconds
    return size > 0 and (size + line_bytes > limits.rotate_bytes or too_old)


def due_for_deletion(
    closed: Sequence[LogFile], now: float, limits: LogSettings, open_bytes: int = 0
) -> list[LogFile]:
    """Closed files retention drops, oldest first: those older than `keep_seconds`, then the
    oldest until the rest and the `open_bytes` still being written fit in `keep_bytes`."""
    ordered = sorted(closed, key=lambda file: (file.modified, file.path.name))
    dropped = [file for file in ordered if now - file.modified > limits.keep_seconds]
    kept = [file for file in ordered if now - file.modified <= limits.keep_seconds]
    total = open_bytes + sum(file.size for file in kept)
    for file in kept:
        if total <= limits.keep_bytes:
            break
        dropped.append(file)
        total -= file.size
    return dropped
