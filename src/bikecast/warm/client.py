"""The `bikecast` command. A pipeline stage goes to the warm server (started on first use);
anything else, or a stage when no server can be had, runs here as an ordinary process.

To DVC and to a shell the client is the stage: it passes its own stdin/stdout/stderr, working
directory and environment, forwards SIGINT/SIGTERM/SIGHUP to the worker, and exits with the
worker's code (or dies of the worker's signal).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time

from bikecast.warm import place

STAGES = frozenset({"ingest", "validate", "features", "split", "train", "evaluate", "drift"})
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
START_TIMEOUT_S = 120.0


def main() -> None:
    argv = list(sys.argv)
    if wanted(argv, os.environ):
        code = delegate(argv)
        if code is not None:
            sys.exit(code)
    from bikecast.cli import app

    app()


def wanted(argv: list[str], env: os._Environ[str] | dict[str, str]) -> bool:
    return (
        len(argv) > 1
        and argv[1] in STAGES
        and env.get(place.ENABLE, "1") != "0"
        and sys.platform == "linux"  # fork + fd passing, tested here only
    )


def delegate(argv: list[str]) -> int | None:
    """Run the stage in the warm server; None when none can be had (the caller runs it)."""
    try:
        where = place.here()
        conn = connect_or_start(where)
        worker = send(conn, argv)
    except (place.Unavailable, OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        sys.stderr.write(f"bikecast: no warm server ({reason}); running {argv[1]} here\n")
        return None
    return relay(conn, worker, argv[1])


def connect(path: os.PathLike) -> socket.socket | None:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(os.fspath(path))
    except (FileNotFoundError, ConnectionRefusedError):
        conn.close()
        return None
    return conn


def connect_or_start(where: place.Place) -> socket.socket:
    conn = connect(where.socket)
    if conn is not None:
        return conn
    with open(where.lock, "w") as lock:  # one client starts the server; the rest wait for it
        fcntl.flock(lock, fcntl.LOCK_EX)
        conn = connect(where.socket)
        if conn is not None:
            return conn
        start(where)
        conn = connect(where.socket)
    if conn is None:
        raise place.Unavailable(f"the server did not listen; see {where.log}")
    return conn


def start(where: place.Place) -> None:
    """Start the server and return once it listens (its first process exits then)."""
    idle_s = place.idle_seconds(dict(os.environ))
    with open(where.log, "a") as log:
        cmd = [sys.executable, "-P", "-m", "bikecast.warm.server", str(where.socket), str(idle_s)]
        try:
            proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                  timeout=START_TIMEOUT_S, check=False)  # fmt: skip
        except subprocess.TimeoutExpired:
            raise place.Unavailable(f"the server took over {START_TIMEOUT_S:.0f} s to start; "
                                    f"see {where.log}") from None  # fmt: skip
    if proc.returncode != 0:
        raise place.Unavailable(f"the server failed to start; see {where.log}")


def send(conn: socket.socket, argv: list[str]) -> int:
    """Hand over the command with our stdin/stdout/stderr; the server answers its worker's pid."""
    umask = os.umask(0)
    os.umask(umask)
    body = json.dumps({"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ),
                       "umask": umask}).encode()  # fmt: skip
    socket.send_fds(conn, [len(body).to_bytes(8, "big")], [0, 1, 2])
    conn.sendall(body)
    kind, _, value = readline(conn).partition(" ")
    if kind != "pid":
        raise ValueError(f"the server answered {kind!r}")
    return int(value)


def readline(conn: socket.socket) -> str:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(64)
        if not chunk:
            break
        data += chunk
    return data.decode().strip()


def relay(conn: socket.socket, worker: int, stage: str) -> int:
    """Wait for the worker's end; signals sent to us go to it. Dies as it died."""

    def forward(sig: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker, sig)

    for sig in FORWARDED:
        signal.signal(sig, forward)
    kind, _, value = readline(conn).partition(" ")
    if kind == "exit":
        return int(value)
    if kind == "signal":
        sig = int(value)
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
        time.sleep(1)  # the signal is delivered before this ends
        return 128 + sig
    forward(signal.SIGKILL, None)  # the server is gone: so is the stage, loudly
    sys.stderr.write(f"error: the warm server stopped while {stage} ran (pid {worker}, killed); "
                     f"run it again, or set {place.ENABLE}=0\n")  # fmt: skip
    return 1
