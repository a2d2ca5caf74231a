"""The plugin as a real process for the signal tests, without a Python start per run: a server with the
plugin imported forks one child per run, and that child becomes the plugin as its console script would
start it (tests/test_interrupt.py signals it, its process group, and reads its exit status).

The child: its own session and process group (as `start_new_session=True` makes it), the caller's
stdin/stdout/stderr on fds 0-2, its environment, cwd and argv (argv[0] the console script's path), the
default signal dispositions, and the fixture's short pauses (fixture.PAUSE). It then runs `cli.main()`
and leaves through the interpreter's own exit (flushing, joining threads), as the console script does.

Protocol: a Unix socket; the test sends a JSON request with fds 0-2 (SCM_RIGHTS) and reads "pid N\n",
then, when the run ended, "exit N\n" or "signal N\n". Single-threaded: it forks.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import pkgutil
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import kubectl_prefect_rollback
from kubectl_prefect_rollback import interrupt
from kubectl_prefect_rollback.cli import main as plugin_main

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)  # SIGPIPE: ignored, as Python has it


def _recv_request(conn: socket.socket) -> tuple[dict, list[int]]:
    data, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
    while not data.endswith(b"\n"):
        more = conn.recv(1 << 20)
        if not more:
            raise EOFError("caller went away mid-request")
        data += more
    return json.loads(data), fds


class Server:
    def __init__(self, path: str, pause: float) -> None:
        self.pause = pause
        self.sel = selectors.DefaultSelector()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(16)
        self.sel.register(self.listener, selectors.EVENT_READ, "accept")
        self.sel.register(sys.stdin, selectors.EVENT_READ, "parent")
        self.live: dict[int, tuple[socket.socket, int]] = {}  # pidfd -> (caller conn, pid)

    def serve(self) -> None:
        print("ready", flush=True)
        while True:
            for key, _ in self.sel.select():
                if key.data == "accept":
                    self._accept()
                elif key.data == "parent":  # the pytest worker went away: so do its runs
                    for pidfd in self.live:
                        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                    return
                else:
                    self._reap(key.data)

    def _accept(self) -> None:
        conn, _ = self.listener.accept()
        req, fds = _recv_request(conn)
        pid = os.fork()
        if pid == 0:
            self._become_plugin(conn, req, fds)  # never returns
        for fd in fds:
            os.close(fd)
        conn.sendall(f"pid {pid}\n".encode())
        pidfd = os.pidfd_open(pid)
        self.live[pidfd] = (conn, pid)
        self.sel.register(pidfd, selectors.EVENT_READ, pidfd)

    def _reap(self, pidfd: int) -> None:
        conn, pid = self.live.pop(pidfd)
        self.sel.unregister(pidfd)
        os.close(pidfd)
        _, status = os.waitpid(pid, 0)
        how = f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"exit {os.WEXITSTATUS(status)}"
        try:
            conn.sendall(f"{how}\n".encode())
        except OSError:
            pass
        conn.close()

    def _become_plugin(self, conn: socket.socket, req: dict, fds: list[int]) -> None:
        os.setsid()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        for pidfd, (c, _) in self.live.items():
            os.close(pidfd)
            c.close()
        self.sel.close()
        self.listener.close()
        conn.close()
        for sig in SIGNALS:
            signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL)
        os.environ.clear()
        os.environ.update(req["env"])
        os.chdir(req["cwd"])
        sys.argv = req["argv"]
        pause = interrupt.sleep
        interrupt.sleep = lambda seconds: pause(min(seconds, self.pause))
        sys.exit(plugin_main())  # up through serve() to the interpreter's own exit


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C stops pytest, which closes our stdin
    for mod in pkgutil.walk_packages(kubectl_prefect_rollback.__path__, "kubectl_prefect_rollback."):
        importlib.import_module(mod.name)  # what a run imports, once: each child starts with it
    importlib.import_module("concurrent.futures.thread")  # and what its first gather would (proc.gather)
    server = Server(sys.argv[1], float(sys.argv[2]))
    # what is here now outlives every child: kept out of their collections, which would otherwise write
    # to (and so copy) each page of it in each child; a forked run costs ~25% less CPU for it
    gc.freeze()
    server.serve()


# -- the test's side ------------------------------------------------------------------------------------
BOOT = """import sys
sys.path.insert(0, {repo!r})
from tests.fakes.plugin_server import main
main()
"""


class Run:
    """One plugin process started by the server; the parts of Popen the signal tests use."""

    def __init__(self, sock_path: str, argv: list[str], stdout: int, stderr: int) -> None:
        self._conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._conn.connect(sock_path)
        req = {"argv": argv, "env": dict(os.environ), "cwd": os.getcwd()}
        with open(os.devnull, "rb") as null:
            socket.send_fds(self._conn, [json.dumps(req).encode() + b"\n"], [null.fileno(), stdout, stderr])
        self._buf = b""
        self.pid = int(self._line(block=True).split()[1])
        self.returncode: int | None = None

    def _line(self, *, block: bool, timeout: float | None = None) -> str | None:
        self._conn.settimeout(timeout if block else 0)
        while b"\n" not in self._buf:
            try:
                more = self._conn.recv(64)
            except (BlockingIOError, InterruptedError):
                return None
            except TimeoutError:
                raise subprocess.TimeoutExpired("plugin", timeout or 0) from None
            if not more:
                raise EOFError("the plugin server went away")
            self._buf += more
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode()

    def _ended(self, line: str) -> int:
        how, n = line.split()
        self.returncode = int(n) if how == "exit" else -int(n)
        self._conn.close()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self._ended(self._line(block=True, timeout=timeout))  # type: ignore[arg-type]
        return self.returncode  # type: ignore[return-value]

    def poll(self) -> int | None:
        if self.returncode is None:
            line = self._line(block=False)
            if line is not None:
                self._ended(line)
        return self.returncode


@contextmanager
def server(repo: str, pause: float) -> Iterator[str]:
    """A plugin server for this pytest process; yields its socket path."""
    tmp = tempfile.mkdtemp(prefix="plugins-", dir="/tmp" if os.path.isdir("/tmp") else None)
    sock = os.path.join(tmp, "plugin.sock")
    p = subprocess.Popen(
        [sys.executable, "-c", BOOT.format(repo=repo), sock, repr(pause)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        if p.stdout.readline() != b"ready\n":  # type: ignore[union-attr]
            raise RuntimeError(f"the plugin server did not start (exit {p.wait()})")
        yield sock
    finally:
        p.stdin.close()  # type: ignore[union-attr]  (EOF: it kills what still runs and exits)
        p.wait(timeout=10)
        os.unlink(sock)
        os.rmdir(tmp)
