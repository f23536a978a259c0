"""The installed `contrail` command run in a project folder, as a user (or DVC) runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CONTRAIL = str(Path(sys.executable).parent / "contrail")


def contrail(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Without CONTRAIL_DEBUG, so a failure is reported as the user sees it."""
    env = {k: v for k, v in os.environ.items() if k != "CONTRAIL_DEBUG"}
    return subprocess.run(
        [CONTRAIL, *args], cwd=project, env=env, capture_output=True, text=True, check=False
    )
