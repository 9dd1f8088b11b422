"""Running commands, waiting for a condition, and killing a background job's process group."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path


def sh(cmd: list[str], cwd: Path, env: Mapping[str, str], check: bool = True):
    proc = subprocess.run(cmd, cwd=cwd, env=dict(env), capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} exited {proc.returncode} in {cwd}\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate: Callable[[], bool], what: str, limit: float = 600) -> None:
    """Poll until `predicate()`; a bound so a broken run ends instead of hanging."""
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what}")
        time.sleep(0.2)


def group_members(pgid: int) -> list:
    import psutil

    members = []
    for candidate in psutil.process_iter():
        try:
            if os.getpgid(candidate.pid) == pgid:
                members.append(candidate)
        except (ProcessLookupError, psutil.Error):
            continue
    return members


def running_stage(pgid: int) -> bool:
    """Whether a `bikecast <stage>` command of that group is running: DVC is then waiting on
    it, not writing its lock files (a kill there would leave a truncated .dvc/tmp/rwlock)."""
    import psutil

    for member in group_members(pgid):
        try:
            if any(Path(arg).name == "bikecast" for arg in member.cmdline()[:2]):
                return True
        except psutil.Error:
            continue
    return False


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL a background script's process group, then wait until every process of it is
    gone: DVC takes a PID in its lock file that still exists (even unreaped) as a running
    repro, and the killed children are reaped by init, not by us, some time later."""
    members = group_members(proc.pid)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    wait_for(lambda: not any(p.is_running() for p in members), "the killed repro to be reaped", 60)


def stop_group(proc: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM a server's process group; SIGKILL it if it has not exited within `timeout`."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
