"""Which warm server fits this process, and where its socket, lock and log live.

A server is only as good as the code it imported, so its name is a hash of everything that
decides what an import gives: the interpreter, sys.path and each entry's mtime (a package
installed or removed), every bikecast source file's size and mtime, and the environment
variables that libraries read once at import (thread pools, allocators). Edit a file and the
next stage starts a fresh server; the old one exits when idle.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ENABLE = "BIKECAST_WARM"  # "0" runs every stage in its own process
DIR = "BIKECAST_WARM_DIR"
IDLE = "BIKECAST_WARM_IDLE_S"
DEFAULT_IDLE_S = 300.0
# read by native libraries or Python itself when they load, not when a stage runs
IMPORT_TIME_ENV = ("PYTHON", "OMP_", "KMP_", "OPENBLAS_", "MKL_", "GOTO", "ARROW_", "LD_",
                   "MALLOC_", "XGBOOST", "TZ")  # fmt: skip


class Unavailable(Exception):
    """No warm server can be used; the stage runs in its own process instead."""


@dataclass(frozen=True)
class Place:
    directory: Path
    key: str

    @property
    def socket(self) -> Path:
        return self.directory / f"{self.key}.sock"

    @property
    def lock(self) -> Path:
        return self.directory / f"{self.key}.lock"

    @property
    def log(self) -> Path:
        return self.directory / f"{self.key}.log"


def code_key(package: Path, search_path: list[str], env: dict[str, str]) -> str:
    """A hash of what the server's imports depend on (see the module docstring)."""
    digest = hashlib.sha256(f"{sys.executable}\0{sys.version}\0".encode())
    for entry in search_path:
        digest.update(f"{entry}\0{_mtime(Path(entry or '.'))}\0".encode())
    for path in sorted(package.rglob("*.py")):
        st = path.stat()
        digest.update(f"{path.relative_to(package)}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    for name in sorted(env):
        if name.startswith(IMPORT_TIME_ENV):
            digest.update(f"{name}={env[name]}\0".encode())
    return digest.hexdigest()[:16]


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def directory(env: dict[str, str]) -> Path:
    """BIKECAST_WARM_DIR, else a private directory in the runtime or temp dir; it must be
    this user's alone, since whoever can reach the socket can run commands as this user."""
    runtime = Path(env.get("XDG_RUNTIME_DIR") or tempfile.gettempdir())
    path = Path(env.get(DIR) or runtime / f"bikecast-warm-{os.getuid()}")
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = path.stat()
    except OSError as exc:
        raise Unavailable(f"cannot use {path}: {exc.strerror or exc}") from None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise Unavailable(f"{path} must be a directory only this user can open (mode 700)")
    return path


def here(env: dict[str, str] | None = None) -> Place:
    """The server that fits this process: this interpreter, this code, this environment."""
    env = dict(os.environ if env is None else env)
    package = Path(__file__).resolve().parents[1]
    # sys.path[0] is the script's own folder (bin/ for `bikecast`); the server runs with -P
    return Place(directory(env), code_key(package, sys.path[1:], env))


def idle_seconds(env: dict[str, str]) -> float:
    try:
        return float(env.get(IDLE, DEFAULT_IDLE_S))
    except ValueError:
        raise Unavailable(f"{IDLE} must be a number of seconds, not {env[IDLE]!r}") from None
