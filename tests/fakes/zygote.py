"""A home for the fakes: one Python process per pytest worker with the fakes imported, which runs the
kubectl/helm calls instead of the plugin paying a fresh interpreter (~0.2 s) each.

The plugin still starts a real child process per call through proc.py: the small C client (client.c)
on PATH. It passes its stdin/stdout/stderr, argv, environment, cwd, umask and ignored signals here
over a Unix socket, and ends as the zygote reports the fake ended.

Most calls answer at once: the zygote runs them itself, with the caller's fds, environment, cwd, umask
and argv for the duration (a fork per call was most of a call's cost; the environment stays until a
call brings another). A call that is going to wait (a hold, a delay, a helm upgrade that takes its
time, `logs --follow`: state.detach) forks there and goes on in a child that becomes the fake as
`python -IS` would start it: its own session, fds 0-2, the caller's ignored signals. Signal bytes the
client forwards after its request are sent to that child; EOF from the client (it was SIGKILLed, or
its process group was) SIGKILLs it. Nothing waits before detaching, so a signal always finds a call
either finished or in its own process.

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
        # the environment, most of a request, is nearly always the previous call's: decoded once
        self.env_blob = payload[sum(len(p) + 1 for p in parts[: 5 + n]) :]
        self.env = _ENV[1] if self.env_blob == _ENV[0] else _decode_env(parts[5 + n :])
        _ENV[:] = [self.env_blob, self.env]


_ENV: list = [None, None]  # [the last request's environment bytes, that environment decoded]


def _decode_env(entries: list[bytes]) -> dict[str, str]:
    env = {}
    for entry in entries:
        k, eq, v = entry.partition(b"=")
        if eq:
            env[os.fsdecode(k)] = os.fsdecode(v)
    return env


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


def _stdio(env: dict[str, str], fds: tuple[int, int, int] = (0, 1, 2)) -> None:
    """sys.stdin/out/err over `fds` as a fresh interpreter makes them over 0-2 (UTF-8; surrogateescape
    under the C locale, Python's locale coercion)."""
    ctype = env.get("LC_ALL") or env.get("LC_CTYPE") or env.get("LANG") or "C"
    errors = "surrogateescape" if ctype in ("C", "POSIX") else "strict"
    tty = os.isatty(fds[1])
    sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(fds[0], "r", closefd=False)), "utf-8", errors)
    sys.stdout = io.TextIOWrapper(
        io.BufferedWriter(io.FileIO(fds[1], "w", closefd=False)), "utf-8", errors, line_buffering=tty
    )
    err = io.BufferedWriter(io.FileIO(fds[2], "w", closefd=False))
    sys.stderr = io.TextIOWrapper(err, "utf-8", "backslashreplace", line_buffering=True)


def _exit_code(e: SystemExit) -> int:
    if e.code is None:
        return 0
    if isinstance(e.code, int):
        return e.code & 0xFF
    print(e.code, file=sys.stderr)
    return 1


class Detached(BaseException):
    """In the zygote: the call went on in child `pid` (state.detach)."""

    def __init__(self, pid: int) -> None:
        super().__init__(pid)
        self.pid = pid


class Caller:
    """The caller's process state for one call run here, put back afterwards (but the environment:
    _environ)."""

    def __init__(self, req: Request) -> None:
        self.req = req
        self.saved = (os.getcwd(), sys.argv, sys.stdin, sys.stdout, sys.stderr)

    def __enter__(self) -> Caller:
        req = self.req
        self.umask = os.umask(req.umask)
        try:
            _environ(req.env_blob, req.env)
            os.chdir(req.cwd)
            sys.argv = req.argv
            state.PID = req.peer
            _stdio(req.env, tuple(req.fds))  # type: ignore[arg-type]
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        cwd, argv, *stdio = self.saved
        os.chdir(cwd)
        os.umask(self.umask)
        sys.argv = argv
        sys.stdin, sys.stdout, sys.stderr = stdio
        state.PID = None


_APPLIED: list = [None]  # the environment bytes os.environ was last made from


def _environ(blob: bytes, env: dict[str, str]) -> None:
    """os.environ becomes `env` (whose request bytes are `blob`), touching only the variables that
    differ, and nothing when it is the environment of the call before: clear() and update() put every
    variable twice per call, most of what the zygote spent outside the fakes themselves. It stays the
    last caller's between calls (the fakes never change it, and the zygote itself reads none of it)."""
    if blob == _APPLIED[0]:
        return
    _APPLIED[0] = None  # half applied, should this fail
    for k in [k for k in os.environ if k not in env]:
        del os.environ[k]
    for k, v in env.items():
        if os.environ.get(k) != v:
            os.environ[k] = v
    _APPLIED[0] = blob


def become_fake(req: Request) -> None:
    """In a child forked mid-call: the process a fresh `python -IS` fake would be."""
    os.setsid()  # like the plugin's start_new_session: the fake leads its own group
    for target, fd in enumerate(req.fds):
        os.dup2(fd, target)
    os.closerange(3, MAXFD)  # the plugin's children get only 0-2 (close_fds)
    for sig in SIGNALS:
        signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL)
    for sig in req.ignored:
        with contextlib.suppress(OSError, ValueError):
            signal.signal(sig, signal.SIG_IGN)
    _stdio(req.env)


def run_call(req: Request) -> int:
    """Run the call here; its exit code, or Detached when it went on in a child. In that child this
    never returns: the call's end is the child's exit."""
    zygote = os.getpid()

    def detach() -> None:
        _flush()
        # the client may already have forwarded a signal: the child takes it once it is the fake, with
        # the fake's handlers and stdio, not half way through becoming it
        signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
        pid = -1
        try:
            pid = os.fork()
        finally:
            if pid != 0:  # the zygote (or a fork that failed) takes signals as before
                signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)
        if pid:
            raise Detached(pid)
        try:
            become_fake(req)
        except BaseException:
            os._exit(1)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)

    code, interrupted = 1, False
    with Caller(req):
        state.DETACH = detach
        try:
            state.main(req.prog, HANDLERS[req.prog])
            code = 0
        except Detached:
            raise
        except SystemExit as e:
            code = _exit_code(e)
        except KeyboardInterrupt:  # only a detached child gets SIGINT
            traceback.print_exc()
            interrupted = True
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            state.DETACH = None
        if not _flush():
            code = 120  # what Python exits with when flushing stdout fails at exit
        if os.getpid() != zygote:
            if interrupted:  # die of SIGINT, as Python does
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                os.kill(os.getpid(), signal.SIGINT)
            os._exit(code)
    return code


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
            code = run_call(req)
        except Detached as d:
            self._watch(conn, d.pid)
            return
        except OSError as e:  # the caller's cwd is gone, say: as a fresh interpreter would fail
            with contextlib.suppress(OSError):
                os.write(req.fds[2], f"fake {req.prog}: {e}\n".encode())
            code = 1
        finally:
            for fd in req.fds:
                os.close(fd)
        with contextlib.suppress(OSError):
            conn.sendall(f"exit {code}\n".encode())
        conn.close()

    def _watch(self, conn: socket.socket, pid: int) -> None:
        """A call that went on in child `pid`: its signals go there, its end is reported."""
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
    state.SHARED = True  # each call is done with the state once its lock is released (state.locked)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C stops pytest, which closes our stdin
    Zygote(sys.argv[1]).serve()


if __name__ == "__main__":
    main()
