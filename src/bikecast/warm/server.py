"""The warm server: imports the pipeline's libraries once, then forks one worker per stage.

    python -P -m bikecast.warm.server SOCKET IDLE_S   (the client starts it; nobody else needs to)

Imports come in levels, cheapest first (LEVELS). The server answers as soon as the first level
is in; meanwhile a fork of it imports the next level and, when done, takes the socket over
as soon as no stage is running (new ones wait in the socket's queue meanwhile), and the older
level exits. So the first stage of a cold
`dvc repro` waits only for pandas, and Evidently's import runs on the other core while the
early stages work.

A worker is a fork of a server that has only imported: no thread pool has run (forking after
OpenMP has is unsafe), so it starts as clean as a new process. It takes the client's
stdin/stdout/stderr (passed over the socket), working directory, environment and umask, runs
the `bikecast` command, and exits with its code. A client that goes away (killed, its socket
closed) gets its worker killed: a stage never outlives the command DVC is waiting on.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import logging
import os
import selectors
import signal
import socket
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("bikecast.warm")

# What each level imports: "module" or "module:function" (called; XGBoost must be imported
# through bikecast.ml.xgb so that scikit-learn stays out, as it does in a stage process).
LEVELS: tuple[tuple[str, ...], ...] = (
    ("bikecast.cli", "bikecast.config", "pandas", "pyarrow.parquet", "bikecast.stages.ingest",
     "bikecast.stages.features", "bikecast.stages.split"),
    ("bikecast.stages.validate", "bikecast.ml.xgb:xgboost", "bikecast.stages.train",
     "bikecast.stages.evaluate", "bikecast.ml.xgb:onnx_converter", "dvclive"),
    ("bikecast.stages.drift", "evidently", "evidently.metrics"),
)  # fmt: skip
HEADER = 8  # bytes: the request's length, sent with the client's three file descriptors


def preload(names: tuple[str, ...]) -> None:
    for name in names:
        module, _, function = name.partition(":")
        loaded = importlib.import_module(module)
        if function:
            getattr(loaded, function)()
    if threading.active_count() > 1:  # a fork keeps only this thread: say so, loudly
        log.warning("threads running after imports: %s", threading.enumerate())


def read_request(conn: socket.socket) -> tuple[dict, list[int]]:
    """One request: 8 bytes of length with the client's stdin/stdout/stderr, then JSON."""
    head, fds, _, _ = socket.recv_fds(conn, HEADER, 3)
    if len(fds) != 3 or len(head) != HEADER:
        for fd in fds:
            os.close(fd)
        raise ValueError("a request needs 8 bytes of length and 3 file descriptors")
    size, body = int.from_bytes(head, "big"), b""
    while len(body) < size:
        chunk = conn.recv(size - len(body))
        if not chunk:
            break
        body += chunk
    try:
        return json.loads(body), fds
    except ValueError:
        for fd in fds:
            os.close(fd)
        raise


def run_worker(request: dict, fds: list[int]) -> int:
    """In the forked child: become the client's `bikecast` process, run the command."""
    os.setpgid(0, 0)  # its own group, so the server can stop it and whatever it started
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    # the process's own streams, for the rest of its life
    sys.stdin = open(0, closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", closefd=False, buffering=1 if os.isatty(1) else -1)  # noqa: SIM115
    sys.stderr = open(2, "w", closefd=False, buffering=1)  # noqa: SIM115
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    os.umask(request["umask"])
    sys.argv = request["argv"]
    atexit._clear()  # the server's own handlers are not this command's
    logging.root.handlers.clear()  # nor its log: the command sets up its own
    logging.root.setLevel(logging.WARNING)
    from bikecast.cli import app

    try:
        app(args=sys.argv[1:], prog_name="bikecast")
        code = 0
    except SystemExit as exc:
        code = exit_code(exc.code)
    except BaseException:
        traceback.print_exc()
        code = 1
    atexit._run_exitfuncs()
    for thread in threading.enumerate():  # as the interpreter does before it exits
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    return code


def exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(f"{code}\n")
    return 1


@dataclass
class Level:
    """One server process: a listening socket, its running workers, maybe a next level."""

    listener: socket.socket | None
    socket_path: Path
    socket_inode: int  # the path is ours to remove only while it is still this socket
    idle_s: float
    rest: tuple[tuple[str, ...], ...]
    jobs: dict[int, socket.socket] = field(default_factory=dict)
    started: dict[int, float] = field(default_factory=dict)
    successor: tuple[int, socket.socket] | None = None
    successor_ready: bool = False
    stopping: bool = False
    selector: selectors.BaseSelector = field(default_factory=selectors.DefaultSelector)
    wake: tuple[int, int] = (-1, -1)

    def own_fds(self) -> list[int]:
        fds = [self.selector.fileno(), *self.wake]  # type: ignore[attr-defined]
        fds += [conn.fileno() for conn in self.jobs.values()]
        if self.listener is not None:
            fds.append(self.listener.fileno())
        if self.successor is not None:
            fds.append(self.successor[1].fileno())
        return fds

    def serve(self) -> None:
        self.wake = os.pipe()
        for fd in self.wake:
            os.set_blocking(fd, False)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # only to wake the selector
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "stopping", True))
        signal.set_wakeup_fd(self.wake[1], warn_on_full_buffer=False)
        self.selector.register(self.wake[0], selectors.EVENT_READ, "wake")
        if self.listener is not None:
            self.selector.register(self.listener, selectors.EVENT_READ, "accept")
        if self.rest:
            self.fork_successor()
        idle_since = time.monotonic()
        while self.listener is not None or self.jobs:
            timeout = None if self.jobs else max(0.0, idle_since + self.idle_s - time.monotonic())
            events = self.selector.select(timeout)
            if self.stopping or (not events and not self.jobs):
                log.info("stopping" if self.stopping else f"idle for {self.idle_s:.0f} s: exiting")
                self.stop()
            for key, _ in events:
                if key.data == "accept":
                    self.accept()
                elif key.data == "wake":
                    self.reap()
                elif key.data == "successor":
                    self.successor_says()
                else:  # a client's socket: readable only when it went away
                    self.client_gone(key.data)
            if self.successor_ready and not self.jobs:
                self.hand_over()
            if events or self.jobs:  # a stage came or ended: idle time counts from now
                idle_since = time.monotonic()
        self.end()

    def accept(self) -> None:
        assert self.listener is not None
        try:
            conn, _ = self.listener.accept()
            conn.settimeout(5)
            request, fds = read_request(conn)
        except (OSError, ValueError) as exc:
            log.warning("a bad request: %s", exc)
            return
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                signal.set_wakeup_fd(-1)
                for sig in (signal.SIGCHLD, signal.SIGTERM):
                    signal.signal(sig, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.default_int_handler)
                for fd in [*self.own_fds(), conn.fileno()]:
                    os.close(fd)
                code = run_worker(request, fds)
            finally:
                os._exit(code)
        with contextlib.suppress(OSError):  # the child may have got there first
            os.setpgid(pid, pid)  # as the child does: its group exists before anyone signals it
        for fd in fds:
            os.close(fd)
        log.info("worker %d: %s in %s", pid, " ".join(request["argv"][1:]), request["cwd"])
        with contextlib.suppress(OSError):  # gone already: the selector sees it
            conn.sendall(f"pid {pid}\n".encode())
        self.jobs[pid], self.started[pid] = conn, time.monotonic()
        self.selector.register(conn, selectors.EVENT_READ, pid)

    def reap(self) -> None:
        try:
            while os.read(self.wake[0], 512):
                pass
        except BlockingIOError:
            pass
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if self.successor is not None and pid == self.successor[0]:
                log.warning("level %d failed to import (%s); staying", len(LEVELS) - len(self.rest),
                            status)  # fmt: skip
                self.forget(self.successor[1])
                self.successor[1].close()
                self.successor = None
                if self.successor_ready and self.listener is not None:
                    self.selector.register(self.listener, selectors.EVENT_READ, "accept")
                self.successor_ready = False
            elif pid in self.jobs:
                self.finish(pid, status)

    def finish(self, pid: int, status: int) -> None:
        conn = self.jobs.pop(pid)
        seconds = time.monotonic() - self.started.pop(pid)
        self.forget(conn)
        if os.WIFSIGNALED(status):
            outcome = f"signal {os.WTERMSIG(status)}"
        else:
            outcome = f"exit {os.waitstatus_to_exitcode(status)}"
        log.info("worker %d: %s after %.2f s", pid, outcome, seconds)
        with contextlib.suppress(OSError):
            conn.sendall(f"{outcome}\n".encode())
        conn.close()

    def client_gone(self, pid: int) -> None:
        """The client closed its socket before its worker ended: it was killed. So is the
        worker, with its whole group (DVC treats the stage as failed and reruns it)."""
        log.warning("worker %d: its client went away; killing it", pid)
        self.selector.unregister(self.jobs[pid])
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)

    def fork_successor(self) -> None:
        ours, theirs = socket.socketpair()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.set_wakeup_fd(-1)
                ours.close()
                self.selector.close()
                for fd in self.wake:
                    os.close(fd)
                started = time.monotonic()
                preload(self.rest[0])
                theirs.sendall(b"ready")
                if theirs.recv(2) != b"go":  # the older level exited instead
                    os._exit(0)
                theirs.close()
                log.info("level %d ready in %.1f s (pid %d)", len(LEVELS) - len(self.rest) + 1,
                         time.monotonic() - started, os.getpid())  # fmt: skip
                Level(self.listener, self.socket_path, self.socket_inode, self.idle_s,
                      self.rest[1:]).serve()  # fmt: skip
                code = 0
            except BaseException:
                log.exception("level failed")
            finally:
                os._exit(code)
        theirs.close()
        self.successor = (pid, ours)
        self.selector.register(ours, selectors.EVENT_READ, "successor")

    def successor_says(self) -> None:
        """The next level has imported more. New stages wait in the socket's queue until the
        running ones end, then it takes over (so a level never idles while an older one works)."""
        assert self.successor is not None
        self.selector.unregister(self.successor[1])
        if self.successor[1].recv(5) == b"ready" and self.listener is not None:
            self.selector.unregister(self.listener)
            self.successor_ready = True
        else:  # it died importing: reap() says so
            self.successor[1].close()
            self.successor = None

    def hand_over(self) -> None:
        assert self.successor is not None and self.listener is not None
        _, conn = self.successor
        self.listener.close()
        self.listener = None
        conn.sendall(b"go")
        conn.close()
        self.successor, self.successor_ready = None, False

    def stop(self) -> None:
        """Idle or told to: stop taking stages; the socket goes if it is still ours."""
        if self.listener is not None:
            try:
                if os.stat(self.socket_path).st_ino == self.socket_inode:
                    os.unlink(self.socket_path)
            except OSError:
                pass
            self.forget(self.listener)
            self.listener.close()
            self.listener = None
        if self.successor is not None:
            os.kill(self.successor[0], signal.SIGKILL)

    def forget(self, fileobj: socket.socket) -> None:
        with contextlib.suppress(KeyError):
            self.selector.unregister(fileobj)

    def end(self) -> None:
        if self.successor is not None:
            self.stop()


def main(argv: list[str]) -> int:
    """Daemonise, import the first level, listen, then tell the waiting client (our exit)."""
    socket_path, idle_s = Path(argv[0]), float(argv[1])
    read_end, write_end = os.pipe()
    if os.fork():  # the client waits for this process: it exits once the server listens
        os.close(write_end)
        return 0 if os.read(read_end, 2) == b"ok" else 1
    os.close(read_end)
    os.setsid()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(message)s",
                        stream=sys.stderr)  # fmt: skip
    started = time.monotonic()
    preload(LEVELS[0])
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    socket_path.unlink(missing_ok=True)
    listener.bind(str(socket_path))
    listener.listen(64)
    log.info("level 1 ready in %.1f s (pid %d): %s", time.monotonic() - started, os.getpid(),
             socket_path)  # fmt: skip
    os.write(write_end, b"ok")
    os.close(write_end)
    Level(listener, socket_path, os.stat(socket_path).st_ino, idle_s, LEVELS[1:]).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
