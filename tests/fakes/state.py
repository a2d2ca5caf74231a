"""The world both fakes share: one JSON state file (objects, releases, charts, failure rules) guarded by
an flock, and a `calls.jsonl` log of every invocation.

The plugin runs kubectl concurrently (log followers beside polling), so every fake process takes the
lock for its whole read-modify-write and releases it before it writes its output.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import marshal
import os
import re
import shlex
import stat
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

ENV_KEYS = (
    "HELM_NAMESPACE",
    "HELM_KUBECONTEXT",
    "KUBECONFIG",
    "HELM_PLUGIN_NAME",
    "HELM_BIN",
    "LD_LIBRARY_PATH",
    "LD_LIBRARY_PATH_ORIG",
)
PID: int | None = None  # set by the zygote (zygote.py): the pid of the client the plugin started
# set by the zygote, which runs a call in its own process: called before a call starts to wait (a hold,
# a delay, a helm upgrade that takes its time, a log follower), it forks and the rest of the call goes
# on in a process of its own, which signals can reach
DETACH: Callable[[], None] | None = None


def detach() -> None:
    if DETACH is not None:
        DETACH()


def pid() -> int:
    """The pid the plugin knows this call by, and signals: our own, or under the zygote its client's."""
    return PID or os.getpid()


class Exit(Exception):
    """What a fake prints and how it exits."""

    def __init__(
        self, code: int = 0, out: str = "", err: str = "", then: Callable[[], Exit] | None = None
    ) -> None:
        super().__init__(code, out, err)
        self.code, self.out, self.err = code, out, err
        self.then = then  # runs after the state lock is released (a call that takes a while)


# path -> (the state file's text, its object marshalled, that object) as this process last read or
# wrote it: a call finds the text unchanged most of the time, and then takes the object as it is
_seen: dict[str, tuple[str, bytes, dict[str, Any]]] = {}
# marshal format 2 has no back-references, so equal objects marshal to equal bytes; 3 and later mark
# objects by their reference counts, and a state read back unchanged would seldom compare equal
MARSHAL = 2
# Whether a call may be handed the object the previous call left (the zygote, state.main's calls: each
# is done with it when its lock is released), or gets a fresh copy (a test's Fake.edit, which might
# keep a part of it past its block). A fresh copy (marshal.loads) was a fifth of a zygote call's CPU.
SHARED = False


@contextmanager
def locked(path: str) -> Iterator[dict[str, Any]]:
    """The state for a read-modify-write under the exclusive lock; written back only if it changed (most
    calls are reads, told by comparing marshalled objects). Compact JSON through the C encoder: json.dump
    and indent= take the pure-Python one, which was most of a fake call's CPU."""
    with open(path + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with open(path) as f:
                text = f.read()
            seen = _seen.pop(path, None)  # gone should the caller raise: its object may be half changed
            if seen is None or seen[0] != text:
                st = json.loads(text)
                blob = marshal.dumps(st, MARSHAL)
            else:
                blob = seen[1]
                st = seen[2] if SHARED else marshal.loads(blob)
            yield st
            now = marshal.dumps(st, MARSHAL)
            if now == blob:  # unchanged, without encoding it
                _seen[path] = (text, blob, st)
                return
            new = json.dumps(st)
            if new != text:
                tmp = f"{path}.{os.getpid()}"
                with open(tmp, "w") as f:
                    f.write(new)
                os.replace(tmp, path)
            _seen[path] = (new, now, st)  # the next call reads what it wrote: no json.loads
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def read(path: str) -> dict[str, Any]:
    with open(path + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH)
        try:
            with open(path) as f:
                return json.load(f)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def read_stdin() -> str | None:
    """Data on stdin only when it is a pipe or a file (the plugin gives DEVNULL otherwise)."""
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (OSError, AttributeError, ValueError):  # no stdin at all
        return None
    if stat.S_ISFIFO(mode) or stat.S_ISREG(mode):
        return sys.stdin.read()
    return None


def _fire(st: dict[str, Any], prog: str, argv: list[str], kind: str | None = None) -> dict[str, Any] | None:
    line = shlex.join(argv)
    for rule in st.get("failures", []):
        if rule.get("prog", prog) != prog or not re.search(rule["match"], line, re.DOTALL):
            continue
        if rule.get("kind") and rule["kind"] != kind:  # the kind of object sent on stdin
            continue
        rule["seen"] = rule.get("seen", 0) + 1
        first = rule.get("nth", 1)
        if first <= rule["seen"] < first + rule.get("times", 1):
            return rule
    return None


def main(prog: str, handle: Callable[[dict[str, Any], list[str], str | None], None]) -> None:
    """Run one fake invocation: log it, maybe fail as a rule says, else let `handle` act on the state.
    One lock for all of it, unless a rule holds the call: then it is logged at once, waits outside the
    lock and takes the lock again to do its work."""
    path = os.environ["FAKE_STATE"]
    argv = sys.argv[1:]
    stdin = read_stdin()
    with locked(path) as st:
        call = _call(prog, argv, stdin, bool(st.get("record_stdin")))
        with open(os.environ["FAKE_CALLS"], "a") as log:
            log.write(json.dumps(call) + "\n")
        rule = _fire(st, prog, argv, call.get("stdin_kind"))
        held = rule is not None and bool(rule.get("hold"))
        if not held:
            result, delay = _act(st, rule, handle, argv, stdin)
    if held:  # a slow call: wait first, then do the real work
        detach()
        wait(float(rule["hold"]), released if rule.get("release") else lambda: False)  # type: ignore[index]
        with locked(path) as st:
            result, delay = _act(st, None, handle, argv, stdin)
    _finish(path, result, delay)


def _call(prog: str, argv: list[str], stdin: str | None, record_stdin: bool) -> dict[str, Any]:
    """The call's line in calls.jsonl."""
    call = {
        "prog": prog,
        "argv": argv,
        "env": {k: os.environ[k] for k in ENV_KEYS if k in os.environ},
        "stdin": stdin is not None and stdin != "",
        "argv0": sys.argv[0],
        "stdin_sha": hashlib.sha256(stdin.encode()).hexdigest()[:16] if stdin else None,
    }
    if stdin and stdin.lstrip().startswith("{"):
        try:  # which kind a create/apply sent: tests tell probe pods from real writes
            call["stdin_kind"] = json.loads(stdin).get("kind")
        except (ValueError, AttributeError):
            pass
    if record_stdin and stdin:
        call["stdin_text"] = stdin
    return call


def _act(
    st: dict[str, Any],
    rule: dict[str, Any] | None,
    handle: Callable[[dict[str, Any], list[str], str | None], None],
    argv: list[str],
    stdin: str | None,
) -> tuple[Exit, float]:
    """Under the lock: the failure a rule says, or what `handle` does; and how long to sleep after."""
    if rule is not None:
        return Exit(rule.get("code", 1), rule.get("stdout", ""), rule.get("stderr", "")), rule.get("sleep", 0)
    try:
        handle(st, argv, stdin)
    except Exit as e:
        return e, 0
    return Exit(), 0


def _finish(path: str, result: Exit, delay: float) -> None:
    """After the lock: a rule's delay, a call that takes a while (`then`), a follower; the output."""
    if delay:
        detach()
        time.sleep(delay)
    if result.then is not None:
        detach()
        result = result.then()
    if result.code == -1:  # a follower: print, then wait outside the lock
        detach()
        sys.stdout.write(result.out)
        sys.stdout.flush()
        follow_until(path, result.err)
        sys.exit(0)
    sys.stdout.write(result.out)
    sys.stderr.write(result.err)
    sys.exit(result.code)


def released() -> bool:
    """The test released its holds (Fake.release): a held call ends as soon as its test saw what it
    waited for, not after a fixed time."""
    return os.path.exists(os.environ["FAKE_STATE"] + ".release")


def wait(seconds: float, done: Callable[[], bool]) -> None:
    """Up to `seconds`, less if `done()` becomes true (looked at every 10 ms)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not done():
        time.sleep(min(0.01, max(deadline - time.monotonic(), 0)))


def follow_until(path: str, key: str) -> None:
    """`kubectl logs --follow` on a running container: return when it terminated or its pod is gone."""
    pod_key, container = key.rsplit("|", 1)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pod = read(path)["objects"].get(pod_key)
        if pod is None:
            return
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            if cs["name"] == container and "terminated" in cs.get("state", {}):
                return
        time.sleep(0.05)


def parse_args(argv: list[str], valued: dict[str, str], flags: set[str]) -> tuple[list[str], dict, list]:
    """(positional, options, after `--`); unknown flags exit 1 like the real tools."""
    pos: list[str] = []
    opts: dict[str, Any] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            return pos, opts, argv[i + 1 :]
        if arg.startswith("-") and arg != "-":
            name, eq, value = arg.partition("=")
            if name in valued:
                if not eq:
                    i += 1
                    if i >= len(argv):
                        raise Exit(1, err=f"Error: flag needs an argument: {name}\n")
                    value = argv[i]
                key = valued[name]
                opts.setdefault(key, []).append(value)
            elif name in flags:
                opts[name.lstrip("-")] = value if eq else "true"
            else:
                raise Exit(1, err=f"Error: unknown flag: {name}\n")
        else:
            pos.append(arg)
        i += 1
    return pos, opts, []


def one(opts: dict, key: str, default: Any = None) -> Any:
    values = opts.get(key)
    return values[-1] if values else default


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
