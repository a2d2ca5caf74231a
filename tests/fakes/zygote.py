"""A pre-forked home for the fakes: one Python process per pytest worker with the fakes imported, which
forks one child per kubectl/helm call instead of the plugin paying a fresh interpreter (~0.2 s) each.

The plugin still starts a real child process per call through proc.py: the small C client (client.c)
on PATH. It passes its stdin/stdout/stderr, argv, environment, cwd, umask and ignored signals here
over a Unix socket; the zygote forks, the child becomes the fake with those (as `python -IS` would
start it) and the zygote reports how it ended. Signal bytes the client forwards after its request are
sent to the child; EOF from the client (it was SIGKILLed, or its process group was) SIGKILLs the child.

Single-threaded on purpose: fork() from a process with threads can leave a lock held in the child.
The zygote ends when its stdin (a pipe from the pytest worker) reaches EOF, killing what still runs.
"""

from __future__ import annotations

import contextlib
import io
import os
import selectors
import signal
import socket
import struct
import sys
import traceback

from tests.fakes import fake_helm, fake_kubectl, state

HANDLERS = {"kubectl": fake_kubectl.handle, "helm": fake_helm.handle}
MAXFD = 1024
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


class Request:
    def __init__(self, payload: bytes, fds: list[int], peer: int) -> None:
        parts = payload.split(b"\0")[:-1]
        prog, cwd, umask, ignored, argc = parts[:5]
        self.prog, self.cwd, self.umask = prog.decode(), os.fsdecode(cwd), int(umask)
        self.peer, self.fds = peer, fds
        self.ignored = [int(s) for s in ignored.split(b",") if s]
        n = int(argc)
        self.argv = [os.fsdecode(a) for a in parts[5 : 5 + n]]
        self.env = {}
        for entry in parts[5 + n :]:
            k, eq, v = entry.partition(b"=")
            if eq:
                self.env[os.fsdecode(k)] = os.fsdecode(v)


def read_request(conn: socket.socket) -> Request:
    conn.settimeout(10)  # our own client sends at once; a stuck one must not stall every other call
    head, fds, _, _ = socket.recv_fds(conn, 8, 3)
    while len(head) < 8:
        more = conn.recv(8 - len(head))
        if not more:
            raise EOFError("client went away mid-request")
        head += more
    (size,) = struct.unpack("=Q", head)
    chunks, got = [], 0
    while got < size:
        chunk = conn.recv(min(size - got, 1 << 16))
        if not chunk:
            raise EOFError("client went away mid-request")
        chunks.append(chunk)
        got += len(chunk)
    conn.settimeout(None)
    pid, _, _ = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    if len(fds) != 3:
        raise ValueError(f"expected 3 fds, got {len(fds)}")
    return Request(b"".join(chunks), fds, pid)


def _stdio(env: dict[str, str]) -> None:
    """sys.stdin/out/err over fds 0-2 as a fresh interpreter makes them (UTF-8; surrogateescape under
    the C locale, Python's locale coercion)."""
    ctype = env.get("LC_ALL") or env.get("LC_CTYPE") or env.get("LANG") or "C"
    errors = "surrogateescape" if ctype in ("C", "POSIX") else "strict"
    tty = os.isatty(1)
    sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)), "utf-8", errors)
    sys.stdout = io.TextIOWrapper(
        io.BufferedWriter(io.FileIO(1, "w", closefd=False)), "utf-8", errors, line_buffering=tty
    )
    sys.stderr = io.TextIOWrapper(
        io.BufferedWriter(io.FileIO(2, "w", closefd=False)), "utf-8", "backslashreplace", line_buffering=True
    )


def _exit_code(e: SystemExit) -> int:
    if e.code is None:
        return 0
    if isinstance(e.code, int):
        return e.code & 0xFF
    print(e.code, file=sys.stderr)
    return 1


def become_fake(req: Request) -> None:
    """In the forked child: set up the process as the client's, run the fake, never return."""
    code = 1
    try:
        os.setsid()  # like the plugin's start_new_session: the fake leads its own group
        for target, fd in enumerate(req.fds):
            os.dup2(fd, target)
        os.closerange(3, MAXFD)  # the plugin's children get only 0-2 (close_fds)
        for sig in SIGNALS:
            signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL)
        for sig in req.ignored:
            with contextlib.suppress(OSError, ValueError):
                signal.signal(sig, signal.SIG_IGN)
        os.environ.clear()
        os.environ.update(req.env)
        os.chdir(req.cwd)
        os.umask(req.umask)
        sys.argv = req.argv
        state.PID = req.peer
        _stdio(req.env)
        state.main(req.prog, HANDLERS[req.prog])
        code = 0
    except SystemExit as e:
        code = _exit_code(e)
    except KeyboardInterrupt:
        traceback.print_exc()
        _flush()
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # die of SIGINT, as Python does
        os.kill(os.getpid(), signal.SIGINT)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        if not _flush():
            code = 120  # what Python exits with when flushing stdout fails at exit
        os._exit(code)


def _flush() -> bool:
    ok = True
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except (OSError, ValueError):
            ok = False
    return ok


def _status(wstatus: int) -> bytes:
    if os.WIFSIGNALED(wstatus):
        return f"signal {os.WTERMSIG(wstatus)}\n".encode()
    return f"exit {os.waitstatus_to_exitcode(wstatus)}\n".encode()


class Zygote:
    def __init__(self, path: str) -> None:
        self.sel = selectors.DefaultSelector()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(256)
        self.sel.register(self.listener, selectors.EVENT_READ, ("accept", None))
        self.sel.register(sys.stdin, selectors.EVENT_READ, ("parent", None))
        self.live: dict[int, tuple[socket.socket, int]] = {}  # pidfd -> (client conn, pid)

    def serve(self) -> None:
        print("ready", flush=True)
        while True:
            for key, _ in self.sel.select():
                what, data = key.data
                if what == "accept":
                    self._accept()
                elif what == "client":
                    self._from_client(key.fileobj, data)  # type: ignore[arg-type]
                elif what == "child":
                    self._reap(data)
                else:  # the pytest worker went away
                    self._stop_all()
                    return

    def _accept(self) -> None:
        conn, _ = self.listener.accept()
        try:
            req = read_request(conn)
        except (OSError, EOFError, ValueError) as e:
            print(f"zygote: bad request: {e}", file=sys.stderr, flush=True)
            conn.close()
            return
        try:
            pid = os.fork()
        except OSError as e:  # the client reports that we went away, and exits 1
            print(f"zygote: fork: {e}", file=sys.stderr, flush=True)
            pid = -1
        if pid == 0:
            become_fake(req)
        for fd in req.fds:
            os.close(fd)
        if pid < 0:
            conn.close()
            return
        pidfd = os.pidfd_open(pid)
        self.live[pidfd] = (conn, pid)
        self.sel.register(conn, selectors.EVENT_READ, ("client", pidfd))
        self.sel.register(pidfd, selectors.EVENT_READ, ("child", pidfd))

    def _from_client(self, conn: socket.socket, pidfd: int) -> None:
        try:
            data = conn.recv(64)
        except OSError:
            data = b""
        if not data:  # the client died: so does its fake
            self.sel.unregister(conn)
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            return
        for sig in data:
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(pidfd, sig)

    def _reap(self, pidfd: int) -> None:
        conn, pid = self.live.pop(pidfd)
        _, wstatus = os.waitpid(pid, 0)
        self.sel.unregister(pidfd)
        os.close(pidfd)
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(conn)
        with contextlib.suppress(OSError):
            conn.sendall(_status(wstatus))
        conn.close()

    def _stop_all(self) -> None:
        for pidfd, (_, pid) in list(self.live.items()):
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C stops pytest, which closes our stdin
    Zygote(sys.argv[1]).serve()


if __name__ == "__main__":
    main()
