"""The history branch: read its CSV, and commit the updated files to it without a worktree.

Plumbing (`hash-object`, `mktree`, `commit-tree`) writes the commit straight into the object
store, so the job's checkout of `main` is never switched or touched. The branch holds
`history.csv`, a README with Mermaid charts, and a dvc.yaml with an empty `.dvc/` for
`dvc plots show`, and nothing else: it shares no history with `main`.
"""

from __future__ import annotations

from pathlib import Path

from contrail.monitor import history
from contrail.transports import git


def _blob(repo: Path, text: str) -> str:
    return git.git(repo, "hash-object", "-w", "--stdin", input=text).strip()


def _tree(repo: Path, files: dict[str, str], trees: dict[str, str] | None = None) -> str:
    entries = [f"100644 blob {_blob(repo, body)}\t{name}\n" for name, body in files.items()]
    entries += [f"040000 tree {sha}\t{name}\n" for name, sha in (trees or {}).items()]
    return git.git(repo, "mktree", input="".join(entries)).strip()


def fetch(repo: Path, remote: str, branch: str) -> str | None:
    """The remote branch's commit (fetched), or None when it does not exist yet."""
    if not git.git(repo, "ls-remote", "--heads", remote, branch).strip():
        return None
    git.git(
        repo, "fetch", "--quiet", remote, f"+refs/heads/{branch}:refs/remotes/{remote}/{branch}"
    )
    return git.git(repo, "rev-parse", f"refs/remotes/{remote}/{branch}").strip()


def pull(repo: Path, remote: str, branch: str, local: Path) -> int:
    """Copy the branch's history.csv to `local`; the number of rows (0 without the branch)."""
    commit = fetch(repo, remote, branch)
    text = git.git(repo, "show", f"{commit}:{history.FILE}") if commit else ""
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_text(text)
    return len(history.parse(text, f"{branch}:{history.FILE}"))


def push(repo: Path, remote: str, branch: str, local: Path, message: str) -> str | None:
    """Commit `local` (and the README and dvc.yaml drawn from it) onto the branch and push it;
    the new commit, or None when the branch already has exactly these files."""
    text = local.read_text()
    files = {
        history.FILE: text,
        "README.md": history.readme(history.parse(text, str(local))),
        "dvc.yaml": history.DVC_YAML,
    }
    # An empty DVC project (`.dvc/config`), so `dvc plots show` works on a checkout of it.
    plots = _tree(repo, {f"{history.TEMPLATE}.json": history.months_template()})
    dvc_dir = _tree(
        repo, {"config": "", ".gitignore": "/config.local\n/tmp\n/cache\n"}, {"plots": plots}
    )
    tree = _tree(repo, files, {".dvc": dvc_dir})
    parent = fetch(repo, remote, branch)
    if parent and git.tree_of(repo, parent) == tree:
        return None
    commit = git.git(repo, "commit-tree", tree, *(["-p", parent] if parent else []), "-m", message)
    git.push(repo, remote, f"{commit.strip()}:refs/heads/{branch}")
    return commit.strip()
