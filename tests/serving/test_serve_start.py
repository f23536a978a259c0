"""What stops `contrail serve` (and the service itself) before BentoML starts: a port already in
use and a prediction-log folder that cannot be written, each one line naming it, exit 1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.loopback import free_port

from contrail.serving.commands import check_port
from contrail.serving.prediction_log.writer import UnwritableLogFolder, check_folder

CONTRAIL = str(Path(sys.executable).parent / "contrail")
SETTING = "CONTRAIL_PREDICTION_LOG_DIR"


@pytest.fixture
def held_port() -> Iterator[int]:
    """A loopback port another program listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def run(tmp_path: Path, *command: str, log_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, SETTING: str(log_dir), "BENTOML_DO_NOT_TRACK": "true"}
    return subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def under_a_file(tmp_path: Path) -> tuple[Path, Path]:
    """(a regular file, a log folder below it): no user, root included, can create the folder."""
    blocker = tmp_path / "predictions-here"
    blocker.write_text("not a folder\n")
    return blocker, blocker / "predictions"


def test_a_port_in_use_stops_contrail_serve_with_one_line_naming_it(tmp_path, held_port):
    done = run(tmp_path, CONTRAIL, "serve", "--port", str(held_port), log_dir=tmp_path / "log")
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"contrail serve failed: port {held_port} on 127.0.0.1 is in use (choose another: "
        "make serve PORT=<port>, or contrail serve --port <port>)"
    ]


def test_a_free_port_passes_the_check_and_stays_free():
    port = free_port()
    check_port("127.0.0.1", port)
    check_port("127.0.0.1", port)  # the probe let it go


def test_an_unwritable_log_folder_stops_contrail_serve_with_one_line_naming_it(tmp_path):
    blocker, log_dir = under_a_file(tmp_path)
    done = run(tmp_path, CONTRAIL, "serve", "--port", str(free_port()), log_dir=log_dir)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"contrail serve failed: prediction log folder {log_dir} cannot be used: {blocker} is "
        f"a file, not a folder (set {SETTING} to a writable folder)"
    ]


def test_an_unwritable_log_folder_stops_the_service_at_import_with_one_line(tmp_path):
    """`bentoml serve` as a container runs it: it ends before any worker starts."""
    blocker, log_dir = under_a_file(tmp_path)
    service = "contrail.serving.service:FlightDelay"
    command = [sys.executable, "-m", "bentoml", "serve", service, "--port", str(free_port())]
    done = run(tmp_path, *command, log_dir=log_dir)
    assert done.returncode == 1
    assert (done.stdout + done.stderr).splitlines() == [
        f"contrail service cannot start: prediction log folder {log_dir} cannot be used: "
        f"{blocker} is a file, not a folder (set {SETTING} to a writable folder)"
    ]


def test_a_log_folder_to_be_made_in_a_writable_one_passes_and_is_not_made_yet(tmp_path):
    folder = tmp_path / "monitoring" / "predictions"
    check_folder(folder)
    assert not (tmp_path / "monitoring").exists()


def test_a_log_folder_that_is_a_file_is_refused(tmp_path):
    blocker, _ = under_a_file(tmp_path)
    with pytest.raises(UnwritableLogFolder, match=f"{blocker} is a file, not a folder"):
        check_folder(blocker)


def test_the_service_module_loads_without_scikit_learn_which_only_workers_import(
    packaged_model, tmp_path
):
    """BentoML's main process imports the service before it starts any worker: every second
    that import takes is a second more before the pod is ready (`make bench-image`)."""
    code = (
        "import sys, contrail.serving.service; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'scipy'}))"
    )
    env = {**os.environ, "CONTRAIL_MODEL_TAG": packaged_model, SETTING: str(tmp_path / "log")}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
