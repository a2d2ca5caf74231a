"""A test-only stand-in for kubectl and helm: passes every call through to the real binary, logs it,
and injects one fault or one signal when the spec in $PREFECT_FAULTS_DIR/spec.json matches.

Stdlib only and started with `python -I -S` (tens of ms per call). Installed as two small launchers
named `kubectl` and `helm` (see harness.install); the plugin finds them via $KUBECTL_PATH/$HELM_BIN.

Files in $PREFECT_FAULTS_DIR:
  real.json    {"kubectl": path, "helm": path}
  spec.json    optional: {"kind": "kubectl scale deployment", "after": kind|None, "occurrence": 1,
               "mode": "fail"|"hang"|"garbage"|"empty"|"signal", "signal": "SIGINT", "target": "pid"|"pgrp",
               "pid": plugin pid, "delay": seconds after the call started (signal mode)}
  calls.jsonl  one line per call: kind, argv, pid, t (start), fault (what was injected)
  state.json   occurrence counters (under flock: calls run in parallel)
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import sys
import time

# Flags whose value is the next argument (so it is no positional): enough for what the plugin passes.
VALUE_FLAGS = {
    "-n", "--namespace", "--kubeconfig", "--context", "--kube-context", "-l", "--selector", "-o", "--output",
    "-c", "--container", "-f", "--filename", "--request-timeout", "--field-selector", "--for", "--timeout",
    "--template", "--max", "--revision", "--version", "--description", "--show-only", "--values", "--set",
    "--set-string", "--set-file", "--kube-token", "--token", "--server", "--user", "--cluster", "-p",
    "--since", "--tail", "--replicas", "--selector-fields", "--type", "--patch", "-L", "--label-columns",
}  # fmt: skip
# Kind aliases kubectl accepts, folded to one singular lower-case name.
ALIASES = {
    "po": "pod", "pods": "pod", "deploy": "deployment", "deployments": "deployment", "cm": "configmap",
    "configmaps": "configmap", "jobs": "job", "leases": "lease", "rs": "replicaset",
    "replicasets": "replicaset", "secrets": "secret", "svc": "service", "services": "service",
    "deployments.apps": "deployment", "jobs.batch": "job", "leases.coordination.k8s.io": "lease",
}  # fmt: skip
HELM_TWO_WORDS = {"get", "show", "plugin", "repo", "registry", "dependency"}


def positionals(argv: list[str]) -> list[str]:
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--":
            break
        elif arg.startswith("-"):
            skip = "=" not in arg and arg in VALUE_FLAGS
        else:
            out.append(arg)
    return out


def _kind_of(text: str) -> str:
    text = text.split("/", 1)[0].lower()
    return ALIASES.get(text, text)


def _doc_kind(stdin: bytes) -> str:
    try:
        doc = json.loads(stdin)
    except ValueError:
        return "?"
    if isinstance(doc, dict) and doc.get("kind") == "List":
        kinds = sorted({str(i.get("kind", "?")).lower() for i in doc.get("items") or []})
        return "+".join(kinds) or "list"
    return str(doc.get("kind", "?")).lower() if isinstance(doc, dict) else "?"


def call_kind(tool: str, argv: list[str], stdin: bytes | None = None) -> str:
    """binary + verb + resource kind: `kubectl get lease`, `kubectl apply job`, `helm get hooks`; a
    pre-flight dry run is a call of its own (`kubectl create job --dry-run`)."""
    kind = _call_kind(tool, argv, stdin)
    dry = any(a == "--dry-run" or a.startswith("--dry-run=") and a != "--dry-run=none" for a in argv)
    return f"{kind} --dry-run" if dry else kind


def _call_kind(tool: str, argv: list[str], stdin: bytes | None) -> str:
    pos = positionals(argv)
    if not pos:
        return tool
    if tool == "helm":
        words = pos[:2] if pos[0] in HELM_TWO_WORDS and len(pos) > 1 else pos[:1]
        return " ".join([tool, *words])
    verb = pos[0]
    if verb in ("apply", "create", "replace") and ("-f" in argv or "--filename" in argv):
        return f"{tool} {verb} {_doc_kind(stdin or b'')}"
    if verb == "exec":  # the listing script and the `--help` question are different calls
        command = argv[argv.index("--") + 1 :] if "--" in argv else []
        return f"{tool} exec" + (" --help" if any("--help" in a for a in command) else "")
    if verb == "logs":
        return f"{tool} logs" + (" --follow" if "-f" in argv or "--follow" in argv else "")
    if verb == "wait":
        return f"{tool} wait {_kind_of(pos[1]) if len(pos) > 1 else ''}".rstrip()
    if verb == "get" and len(pos) > 2 and all("/" in p for p in pos[1:]):  # get lease/a configmap/b
        return f"{tool} get " + ",".join(_kind_of(p) for p in pos[1:])
    return f"{tool} {verb} {_kind_of(pos[1])}" if len(pos) > 1 else f"{tool} {verb}"


def _reads_stdin(argv: list[str]) -> bool:
    for i, arg in enumerate(argv):
        if arg in ("-f", "--filename", "--values") and i + 1 < len(argv) and argv[i + 1] == "-":
            return True
        if arg in ("--filename=-", "--values=-", "-f=-"):
            return True
    return False


def _locked_json(path: str, update):
    with open(path + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, ValueError):
            data = {}
        result = update(data)
        with open(path, "w") as f:
            json.dump(data, f)
        return result


def matches(spec: dict, kind: str, state: dict) -> bool:
    """Count this call against the spec; True when it is the occurrence the spec names."""
    if spec.get("after") and not state.get("seen_after"):
        if kind == spec["after"]:
            state["seen_after"] = True
        return False
    if kind != spec.get("kind") or state.get("fired"):
        return False
    state["count"] = state.get("count", 0) + 1
    if state["count"] == int(spec.get("occurrence", 1)):
        state["fired"] = True
        return True
    return False


FAIL_STDERR = {
    "kubectl": 'Error from server (InternalError): an error on the server ("injected fault: etcdserver: '
    'request timed out") has prevented the request from succeeding\n',
    "helm": "Error: Kubernetes cluster unreachable: injected fault: Get "
    '"https://127.0.0.1/version": dial tcp 127.0.0.1:6443: connect: connection refused\n',
}
GARBAGE = '\x1b[31m<<injected garbage>>\x1b[0m }{ "items": [ :: not json, not yaml: [\n\t- {{\n'


def _wait_pending(real_kubectl: str, argv: list[str], most: float = 60) -> None:
    """Until helm has recorded the upgrade as pending (it is then applying or in --wait)."""
    import subprocess

    ns = next((argv[i + 1] for i, a in enumerate(argv[:-1]) if a in ("-n", "--namespace")), "default")
    selector = "owner=helm,status in (pending-upgrade,pending-install)"
    deadline = time.monotonic() + most
    while time.monotonic() < deadline:
        cmd = [real_kubectl, "get", "secrets", "-n", ns, "-l", selector, "-o", "name"]
        out = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL).stdout
        if out.strip():
            return
        time.sleep(0.1)


def _signal_later(spec: dict, real: dict, argv: list[str]) -> None:
    """Fork a helper that sends the signal `delay` seconds from now while this process becomes the call."""
    if os.fork():
        return
    try:
        os.setsid()  # out of the plugin's group: a group signal must not stop the helper itself
        if spec.get("when") == "pending":
            _wait_pending(real["kubectl"], argv)
        time.sleep(float(spec.get("delay") or 0))
        sig = getattr(signal, spec["signal"])
        pid = int(spec["pid"])
        if pid <= 1:
            raise ValueError("no plugin pid in the spec")
        if spec.get("target") == "pgrp":
            os.killpg(os.getpgid(pid), sig)
        else:
            os.kill(pid, sig)
    except (OSError, ValueError, KeyError):
        pass
    os._exit(0)


def main(tool: str) -> None:
    argv = sys.argv[1:]
    faults_dir = os.environ["PREFECT_FAULTS_DIR"]
    with open(os.path.join(faults_dir, "real.json")) as f:
        reals = json.load(f)
    real = reals[tool]
    stdin = sys.stdin.buffer.read() if _reads_stdin(argv) else None
    kind = call_kind(tool, argv, stdin)
    try:
        with open(os.path.join(faults_dir, "spec.json")) as f:
            spec = json.load(f)
    except (OSError, ValueError):
        spec = {}
    fired = bool(spec) and _locked_json(
        os.path.join(faults_dir, "state.json"), lambda st: matches(spec, kind, st)
    )
    mode = spec.get("mode") if fired else None
    entry = {"kind": kind, "argv": [tool, *argv], "pid": os.getpid(), "t": time.time(), "fault": mode}
    with open(os.path.join(faults_dir, "calls.jsonl"), "a") as f:
        f.write(json.dumps(entry) + "\n")

    if mode == "fail":
        sys.stderr.write(FAIL_STDERR[tool])
        sys.exit(1)
    if mode == "hang":
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        time.sleep(float(spec.get("hang", 600)))
        sys.exit(1)
    if mode in ("garbage", "empty"):
        import subprocess

        # the call happens; its output is lost
        subprocess.run([real, *argv], input=stdin, capture_output=True)
        sys.stdout.write(GARBAGE if mode == "garbage" else "")
        sys.exit(0)
    if mode == "signal":
        _signal_later(spec, reals, argv)
    # Pass through: become the real binary (same pid, same process group, same signal fate).
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if stdin is not None:
        r, w = os.pipe()
        if len(stdin) < 60000:
            os.write(w, stdin)
        elif not os.fork():
            os.close(r)
            os.write(w, stdin)
            os._exit(0)
        os.close(w)
        os.dup2(r, 0)
        os.close(r)
    os.execv(real, [real, *argv])


if __name__ == "__main__":
    main(os.path.basename(sys.argv[0]))
