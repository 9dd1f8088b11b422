"""Every git operation `compare` and `report` need, in one place: plain `git` subprocesses.

Why plain git and not GitPython: the operations are few (rev-parse, show, worktree add and
remove, status), `git` is on every machine that has the repository, and its own error
messages are the clearest ones to pass on. Nothing here moves a branch, touches the user's
index or working tree, or runs the repository's hooks: the only write is a temporary
detached worktree, always removed again (even when the caller fails).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bikecast.errors import BikecastError

log = logging.getLogger(__name__)

# Hooks are switched off for every call: a post-checkout hook (e.g. `dvc install`'s) would
# otherwise run inside the temporary worktree with the user's environment.
_GIT = ("git", "-c", "core.hooksPath=/dev/null", "-c", "advice.detachedHead=false")
WORKTREE_PREFIX = "bikecast-base-"


class GitError(BikecastError, RuntimeError):
    """A git revision or file cannot be used; the message names it."""


def git(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    """Run git in `cwd`; raise GitError with git's own message when it fails."""
    try:
        proc = subprocess.run([*_GIT, *args], cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise GitError("git is not installed or not on PATH") from exc
    if check and proc.returncode != 0:
        detail = proc.stderr.strip() or proc.stdout.strip()
        raise GitError(f"git {' '.join(args)} failed in {cwd}: {detail}")
    return proc


def toplevel(cwd: Path) -> Path:
    """The root of the working tree containing `cwd`."""
    proc = git(["rev-parse", "--show-toplevel"], cwd, check=False)
    if proc.returncode != 0:
        raise GitError(f"{cwd} is not inside a git repository")
    return Path(proc.stdout.strip())


def resolve(rev: str, cwd: Path) -> str:
    """The full commit sha of `rev`; GitError naming `rev` when git does not know it."""
    if not rev or rev.startswith("-"):
        raise GitError(f"{rev!r} is not a git revision")
    proc = git(
        ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"],
        cwd,
        check=False,
    )
    if proc.returncode != 0:
        raise GitError(
            f"unknown revision {rev!r}: not a branch, tag or commit of {cwd} "
            "(fetch it first, e.g. `git fetch origin main`)"
        )
    return proc.stdout.strip()


def exists(rev: str, cwd: Path) -> bool:
    return (
        git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], cwd, check=False).returncode
        == 0
    )


def default_base(cwd: Path) -> str:
    """`origin/main` when the remote branch is known here, else `main`."""
    return "origin/main" if exists("origin/main", cwd) else "main"


def show(sha: str, path: str, cwd: Path) -> str | None:
    """The text of `path` at commit `sha`, or None when the file is not in that commit."""
    proc = git(["cat-file", "-e", f"{sha}:{path}"], cwd, check=False)
    if proc.returncode != 0:
        return None
    return git(["show", f"{sha}:{path}"], cwd).stdout


def head(cwd: Path) -> str | None:
    """The sha of HEAD, or None in a repository without commits."""
    proc = git(["rev-parse", "--verify", "--quiet", "HEAD"], cwd, check=False)
    return proc.stdout.strip() or None


def is_dirty(cwd: Path) -> bool:
    """True when tracked files differ from HEAD (untracked files do not count)."""
    return bool(git(["status", "--porcelain", "--untracked-files=no"], cwd).stdout.strip())


def prune(cwd: Path) -> None:
    """Forget worktrees whose directory is gone (e.g. after a killed run)."""
    git(["worktree", "prune"], cwd, check=False)


@contextlib.contextmanager
def temporary_worktree(sha: str, cwd: Path) -> Iterator[Path]:
    """A detached checkout of `sha` in a temporary directory, removed on exit in any case."""
    prune(cwd)
    parent = Path(tempfile.mkdtemp(prefix=WORKTREE_PREFIX))
    tree = parent / "base"
    try:
        git(["worktree", "add", "--detach", "--quiet", str(tree), sha], cwd)
        log.debug("worktree of %s at %s", sha[:12], tree)
        yield tree
    finally:
        git(["worktree", "remove", "--force", "--force", str(tree)], cwd, check=False)
        shutil.rmtree(parent, ignore_errors=True)
        prune(cwd)
