"""The prediction log's writer: one process's rotating file, shipped to a store, retained locally.

Locks. A writer holds an flock on its open file: an `.open` file nobody holds (and untouched for
a minute) was left by a process that died, and is closed as is. Its last line may be cut short;
the reader skips and reports such a line.

Shipping. With a store configured, a background thread copies each closed file there and then
deletes it locally, oldest first: at start-up (files left by an earlier container sharing the
volume), after each rotation, at least once per rotation age, and on close. A restart therefore
loses at most the file being written, and nothing if the service closes the log on shutdown.
A local folder gets a copy under a temporary name then a rename; any other fsspec URL gets one
put (atomic on object stores), checked by size. A failure is one WARNING line and the files wait
for the next attempt; requests never wait for the store.

Retention (`format.due_for_deletion`) drops closed files not shipped, with one WARNING line
naming what was dropped.

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
import logging
import os
import re
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import numpy as np

from contrail.io import atomic_path
from contrail.serving.prediction_log.format import (
    ABANDONED_AFTER_S,
    DIRECTORY_ENV,
    STORE_ENV,
    LogFile,
    LogSettings,
    closed_name,
    due_for_deletion,
    file_name,
    is_closed,
    is_open,
    record_line,
    rotation_due,
)

log = logging.getLogger(__name__)


class UnwritableLogFolder(ValueError):
    """The prediction-log folder cannot be created or written; the message names it and the
    setting that chooses it."""


def check_folder(directory: Path) -> None:
    """Raise UnwritableLogFolder unless `directory` is, or can be made, a folder this process
    writes in. It creates nothing: the service runs it at import, as does `bentoml build`.
    Unchecked, each worker would fail as it starts and BentoML restart it, forever."""
    existing = next(path for path in (directory, *directory.parents) if path.exists())
    if not existing.is_dir():
        problem = f"{existing} is a file, not a folder"
    elif not os.access(existing, os.W_OK | os.X_OK):
        problem = f"{existing} is not writable"
    else:
        return
    raise UnwritableLogFolder(
        f"prediction log folder {directory} cannot be used: {problem} "
        f"(set {DIRECTORY_ENV} to a writable folder)"
    )


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
        line = record_line(request_json, probability, threshold, model_version, now)
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
        self._path.rename(self._path.with_name(closed_name(self._path.name)))
        self._file.close()
        self._file, self._path = None, None
        self._wake.set()

    def _close_abandoned(self, path: Path) -> None:
        with _claimed(path) as mine:
            if not mine:
                return
            try:
                path.rename(path.with_name(closed_name(path.name)))
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
