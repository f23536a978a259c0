"""git, GTO and DVC: the only module that starts them or calls DVC's Python API.

Every call runs in a given repository and returns what the tool printed, or raises `GitError`
naming the command and the tool's last line of output. Callers say what failed in their own
words (a release, a report, a rebuild); none of them handles a process or its exit code.
GTO and DVC are the ones installed beside this Python (the locked environment), so a release
or a report never runs another version found on PATH.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

# DVC of this environment, the way `contrail` runs it unless a caller says otherwise.
DVC = (sys.executable, "-m", "dvc")


class GitError(RuntimeError):
    """git, GTO or DVC failed or could not start (an outside failure, not bad input).

    The message is `<tool> <subcommand> failed: <last line>`; `tail` gives more lines for a
    caller whose user needs the tool's own reason (a failed `dvc repro` prints it before its
    summary)."""

    def __init__(self, message: str, returncode: int | None = None, output: str = "") -> None:
        super().__init__(message)
        self.returncode = returncode
        self.output = output

    def tail(self, count: int) -> str:
        """The last `count` lines of the tool's output on one line, or its exit code."""
        return _tail(self.output, self.returncode, count)


def _tail(output: str, returncode: int | None, count: int) -> str:
    # GTO starts its errors with "❌ "; whitespace is squeezed so a table row reads as a line.
    lines = [" ".join(line.split()).lstrip("❌ ") for line in output.splitlines() if line.strip()]
    return " / ".join(lines[-count:]) or f"exit code {returncode}"


def _run(
    name: str,
    command: Sequence[str],
    cwd: Path,
    *,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    echo: bool = False,
) -> str:
    """Run `command` in `cwd`; its stdout. With `echo` the output goes to the terminal as it
    comes (a `dvc repro` takes minutes) and nothing is returned."""
    try:
        done = subprocess.run(
            list(command), cwd=cwd, input=input, env=env, text=True, capture_output=not echo,
            check=False,
        )  # fmt: skip
    except OSError as exc:
        raise GitError(f"{name} failed: cannot start {command[0]}: {exc.strerror}") from None
    if done.returncode != 0:
        output = (done.stderr or "").strip() or (done.stdout or "").strip()
        raise GitError(
            f"{name} failed: {_tail(output, done.returncode, 1)}", done.returncode, output
        )
    return done.stdout or ""


def git(repo: Path, *args: str, input: str | None = None) -> str:
    """`git <args>` in `repo`, with `input` on its stdin; what it printed."""
    return _run(f"git {args[0]}", ["git", *args], repo, input=input)


def gto(repo: Path, *args: str) -> str:
    """`gto <args>` in `repo` with the `gto` beside this Python, else the one on PATH."""
    beside = Path(sys.executable).parent / "gto"
    found = str(beside) if beside.exists() else shutil.which("gto")
    if found is None:
        raise GitError("gto is not installed in this environment (`make setup`)")
    return _run(f"gto {args[0]}", [found, *args], repo)


def dvc(
    repo: Path,
    *args: str,
    command: Sequence[str] = DVC,
    env: Mapping[str, str] | None = None,
    echo: bool = False,
) -> str:
    """`dvc <args>` in `repo`; `command` and `env` choose another DVC (another checkout's
    environment), `echo` shows its output as it runs instead of returning it."""
    return _run(f"dvc {args[0]}", [*command, *args], repo, env=env, echo=echo)


def dvc_read(repo: Path, path: str, rev: str) -> bytes:
    """A DVC-tracked file's bytes at `rev`, from the local DVC cache, else the default remote
    (DVC's Python API: no process, but still DVC's own access to the cache and remotes)."""
    import dvc.api
    from dvc.exceptions import DvcException

    try:
        content: bytes = dvc.api.read(path, repo=str(repo), rev=rev, mode="rb")
    except (DvcException, OSError) as exc:
        raise GitError(f"dvc read of {path} at {rev[:12]} failed: {exc}") from None
    return content


def commit_of(repo: Path, rev: str) -> str | None:
    """The commit `rev` names in `repo`, or None when it names none."""
    try:
        return git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").strip()
    except GitError:
        return None


def tree_of(repo: Path, rev: str) -> str:
    """The tree of `rev`: two commits with the same tree hold the same files."""
    return git(repo, "rev-parse", f"{rev}^{{tree}}").strip()


def show(repo: Path, rev: str, path: str) -> str | None:
    """The text of `path` committed at `rev`, or None when it is not there."""
    try:
        return git(repo, "show", f"{rev}:{path}")
    except GitError:
        return None


def modified(repo: Path) -> list[str]:
    """Tracked files that differ from HEAD (staged or not); untracked files are not counted."""
    status = git(repo, "status", "--porcelain", "--untracked-files=no")
    return [line[3:] for line in status.splitlines()]


def push(repo: Path, remote: str, refspec: str, force: bool = False) -> None:
    """Push one refspec to `remote` (`--force` replaces a branch that moved elsewhere)."""
    git(repo, "push", "--quiet", *(["--force"] if force else []), remote, refspec)
