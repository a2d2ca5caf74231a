"""Put the fault shim in front of an App's real kubectl/helm, run the plugin through it, and judge a cell.

A cell = one faulted (or interrupted) rollback followed by a fault-free re-run. What every cell must
show (issue 9, Must 8): a documented exit code, no traceback, a clear message, no silent change (a run
that changed the cluster says the state and a `Resume:` command; one that changed nothing left the
namespace as it was), and a re-run that reaches the target.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from testbed import app as fixture
from testbed.cluster import PLUGIN, RELEASE, App

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "data" / "faults"
TO = "1.2.0"
LEASE = f"{RELEASE}-prefect-rollback"
EXIT_CODES = {0, 1, 2, 3, 4, 5, 6, 129, 130, 143}  # errors.py + the agreed signal codes

# Short bounds so a hang costs seconds: every call is bounded by one of them (Must 3).
REQUEST_TIMEOUT = "8s"
BOUNDS = ["--timeout", "90", "--verify-timeout", "90", "--helm-timeout", "60s"]
PROBE_TIMEOUT = ["--probe-timeout", "60s"]
# How long a faulted run may take before the harness calls it unbounded and kills it.
OUTER = {"hang": 150.0, "helm-hang": 240.0, "default": 240.0}


def _plugin_help() -> str:
    return subprocess.run([PLUGIN, "rollback", "--help"], capture_output=True, text=True).stdout


_HELP: list[str] = []


def supports(flag: str) -> bool:
    """Whether the plugin under test knows `flag`: the agreed `--request-timeout`/`--probe-timeout` are
    passed when they exist (and a hang cell fails on a plugin that lacks them, as it must)."""
    if not _HELP:
        _HELP.append(
            _plugin_help() + subprocess.run([PLUGIN, "--help"], capture_output=True, text=True).stdout
        )
    return flag in _HELP[0]


def bound_args() -> list[str]:
    args = list(BOUNDS)
    if supports("--request-timeout"):
        args += ["--request-timeout", REQUEST_TIMEOUT]
    if supports("--probe-timeout"):
        args += PROBE_TIMEOUT
    return args


@dataclass
class Shim:
    """The shim installed for one App: its env for the plugin and its files."""

    app: App
    dir: Path
    env: dict[str, str] = field(default_factory=dict)

    def set(self, **spec: Any) -> None:
        (self.dir / "spec.json").write_text(json.dumps(spec))
        (self.dir / "state.json").unlink(missing_ok=True)

    def clear(self) -> None:
        for name in ("spec.json", "state.json"):
            (self.dir / name).unlink(missing_ok=True)

    def calls(self) -> list[dict[str, Any]]:
        path = self.dir / "calls.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def reset_log(self) -> None:
        (self.dir / "calls.jsonl").unlink(missing_ok=True)

    def fired(self) -> list[dict[str, Any]]:
        return [c for c in self.calls() if c["fault"]]


def install(app: App) -> Shim:
    d = app.home / "faults"
    bindir = d / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    real = {tool: os.path.realpath(app.home / "bin" / tool) for tool in ("kubectl", "helm")}
    (d / "real.json").write_text(json.dumps(real))
    python = os.path.realpath(sys.executable)
    for tool in real:
        launcher = bindir / tool
        body = f"import sys\nsys.path.insert(0, {str(HERE)!r})\nimport shim\nshim.main({tool!r})\n"
        launcher.write_text(f"#!{python} -IS\n{body}")
        launcher.chmod(0o755)
    env = {
        "KUBECTL_PATH": str(bindir / "kubectl"),
        "HELM_BIN": str(bindir / "helm"),
        "PREFECT_FAULTS_DIR": str(d),
    }
    return Shim(app, d, env)


def dispose(app: App) -> None:
    """Delete the App's namespace now (make_app's teardown does it again, harmlessly, at the end)."""
    app.cluster.sim.delete("Namespace", "", app.namespace)


def rollback_argv(app: App, *extra: str) -> list[str]:
    return [
        *(PLUGIN, "rollback", "--to", TO, "--chart", app.chart(TO), "--yes", "--namespace", app.namespace),
        *bound_args(),
        *extra,
    ]


@dataclass
class Result:
    returncode: int | None  # None: the harness had to kill an unbounded run
    stdout: str
    stderr: str
    seconds: float

    def text(self) -> str:
        return f"exit {self.returncode} after {self.seconds:.1f}s\n--- stderr ---\n{self.stderr[-6000:]}"


def _default_signals() -> None:
    # A shell's background job (CI runners, `make … &`) inherits SIGINT ignored, and Python then never
    # raises KeyboardInterrupt: the plugin must start as it would from a terminal.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_DFL)


def start(shim: Shim, argv: list[str]) -> subprocess.Popen[str]:
    # Its own session: a group signal (Ctrl-C imitation) reaches the plugin and its children, not pytest.
    return subprocess.Popen(
        argv,
        env={**shim.app.env, **shim.env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=_default_signals,
    )


def finish(proc: subprocess.Popen[str], t0: float, outer: float) -> Result:
    try:
        out, err = proc.communicate(timeout=max(1.0, outer - (time.monotonic() - t0)))
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        kill_group(proc.pid)
        out, err = proc.communicate(timeout=30)
        code = None
        err += f"\n[harness] killed: still running after {outer:.0f}s (the hang was not bounded)\n"
    if code is not None and code < 0:  # killed by a signal it did not handle (SIGKILL cells)
        code = 128 - code
    return Result(code, out, err, time.monotonic() - t0)


def generous(argv: list[str]) -> list[str]:
    """The same argv with long bounds: the re-run proves the target is reachable, not the timeouts."""
    long = {
        "--timeout": "300",
        "--verify-timeout": "300",
        "--helm-timeout": "180s",
        "--request-timeout": "30s",
        "--probe-timeout": "120s",
    }
    out = list(argv)
    for i, arg in enumerate(out[:-1]):
        if arg in long:
            out[i + 1] = long[arg]
    return out


def wait_lease_expiry(app: App, most: float = 45) -> None:
    lease = app.cluster.sim.get("Lease", app.namespace, LEASE)
    if not lease:
        return
    spec = lease.get("spec") or {}
    renewed = spec.get("renewTime") or spec.get("acquireTime")
    if not renewed:
        return
    from datetime import datetime

    at = datetime.fromisoformat(renewed.replace("Z", "+00:00")).timestamp()
    time.sleep(max(0.0, min(most, at + float(spec.get("leaseDurationSeconds") or 30) + 1 - time.time())))


def kill_pid(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run(shim: Shim, argv: list[str], outer: float) -> Result:
    t0 = time.monotonic()
    return finish(start(shim, argv), t0, outer)


def leftovers(shim: Shim) -> list[dict[str, Any]]:
    """Calls of this App's run whose process still runs (only ours: pids are reused on a busy machine)."""
    return [c for c in shim.calls() if _ours_alive(c["pid"], shim.app.namespace)]


def reap_leftovers(shim: Shim, timeout: float = 120) -> None:
    """Wait for children the plugin left behind (an orphaned helm upgrade after SIGKILL) to end, so the
    next step is not racing them by accident; kill them if they outlive `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and leftovers(shim):
        time.sleep(0.5)
    for c in leftovers(shim):
        kill_pid(c["pid"])


def _ours_alive(pid: int, namespace: str) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return stat.split(") ", 1)[-1][:1] != "Z" and namespace in cmdline


# -- what the cluster looks like ------------------------------------------------------------------------
SNAPSHOT_KINDS = ("Pod", "Job", "Deployment", "ConfigMap", "Secret", "Lease", "Service")


def snapshot(app: App) -> dict[str, Any]:
    """Namespaced objects (name -> generation/replicas/resourceVersion), the release and the heads."""
    sim = app.cluster.sim
    objects = {}
    for kind in SNAPSHOT_KINDS:
        for obj in sim.list(kind, app.namespace):
            meta = obj["metadata"]
            if meta.get("deletionTimestamp"):
                continue  # on its way out
            objects[f"{kind}/{meta['name']}"] = meta.get("resourceVersion")
    releases = [
        s for s in sim.list("Secret", app.namespace) if s["metadata"].get("labels", {}).get("owner") == "helm"
    ]
    revisions = sorted(
        (int(s["metadata"]["labels"].get("version", 0)), s["metadata"]["labels"].get("status"))
        for s in releases
    )
    return {"objects": objects, "revisions": revisions, "heads": app.heads()}


def changed(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    out = []
    for key in sorted(set(before["objects"]) | set(after["objects"])):
        if key.startswith("Pod/") and _is_server_pod_churn(key, before, after):
            continue
        if before["objects"].get(key) != after["objects"].get(key):
            if key not in after["objects"]:
                out.append(f"{key} deleted")
            elif key not in before["objects"]:
                out.append(f"{key} created")
            else:
                out.append(f"{key} modified")
    if before["revisions"] != after["revisions"]:
        out.append(f"release revisions {before['revisions']} -> {after['revisions']}")
    if before["heads"] != after["heads"]:
        out.append(f"database heads {before['heads']} -> {after['heads']}")
    return out


def _is_server_pod_churn(key: str, before: dict[str, Any], after: dict[str, Any]) -> bool:
    # kubelet status updates bump a running pod's resourceVersion; only creation/deletion counts
    return key in before["objects"] and key in after["objects"]


# -- judging ---------------------------------------------------------------------------------------------
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\s+File \".*\", line \d+", re.M)


def problems_with_failure(
    res: Result, before: dict[str, Any], after: dict[str, Any], *, expect: set[int]
) -> list[str]:
    """What is wrong with how a faulted/interrupted run ended (empty: nothing)."""
    bad = []
    if res.returncode is None:
        return [f"not bounded: killed by the harness after {res.seconds:.0f}s"]
    if res.returncode not in expect:
        bad.append(f"exit {res.returncode}, expected one of {sorted(expect)}")
    if res.returncode == 128 + signal.SIGKILL:
        return bad  # nothing can be said by a process that was killed: its re-run must cope
    if TRACEBACK.search(res.stderr):
        bad.append("a traceback on stderr")
    if res.returncode != 0 and not re.search(
        r"^(Error|error|Interrupted|Refused|interrupted)\b|^Error:", res.stderr, re.M
    ):
        bad.append("no `Error:` line on stderr")
    diff = changed(before, after)
    if res.returncode not in (0, None) and diff and "Resume:" not in res.stderr:
        bad.append(f"changed the cluster ({'; '.join(diff[:4])}) but no `Resume:` line says how to go on")
    return bad


def resume_argv(res: Result, app: App) -> list[str]:
    """The re-run: the `Resume:` command's extra flags (e.g. --retry, --force-unlock) on our argv."""
    m = re.search(r"^\s*Resume:\s*(.+)$", res.stderr, re.M)
    line = m.group(1) if m else ""
    extra = ["--retry"] if "--retry" in res.stderr else []  # "…then re-run with --retry"
    if "--force-unlock" in line:
        extra.append("--force-unlock")
    return rollback_argv(app, *extra)


def problems_with_target(app: App, res: Result) -> list[str]:
    """The re-run reached the target: exit 0, release deployed at 1.2.0, heads at 1.2.0, servers Ready
    on the target image, lock gone."""
    bad = []
    if res.returncode != 0:
        bad.append(f"re-run exit {res.returncode}: {last_lines(res.stderr)}")
    if app.heads() != fixture.release_heads(TO):
        bad.append(f"databases at {app.heads()}")
    rel = app.release()
    if (rel["status"], rel["chart"]) != ("deployed", f"prefect-cloud-{TO}"):
        bad.append(f"release {rel['status']} {rel['chart']}")
    pods = app.cluster.sim.list("Pod", app.namespace)
    servers = [
        p for p in pods if p["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "server"
    ]
    ready = [
        p
        for p in servers
        if not p["metadata"].get("deletionTimestamp")
        and {c["type"]: c["status"] for c in p.get("status", {}).get("conditions", [])}.get("Ready") == "True"
        and any(c["image"] == fixture.server_ref(TO) for c in p["spec"]["containers"])
    ]
    if not ready:
        bad.append("no Ready server pod on the target image")
    lease = app.cluster.sim.get("Lease", app.namespace, LEASE)
    if lease and (lease.get("spec") or {}).get("holderIdentity"):
        bad.append(f"lock still held by {lease['spec']['holderIdentity']}")
    probes = [p["metadata"]["name"] for p in pods if "probe" in p["metadata"]["name"]]
    if probes:
        bad.append(f"probe pods left: {probes}")
    return bad


def last_lines(text: str, n: int = 3) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-n:])


# -- results for tests/e2e/faults/matrix.py -------------------------------------------------------------
def record(matrix: str, row: str, col: str, problems: list[str], seconds: float, message: str = "") -> None:
    """One JSON line per cell in $PREFECT_FAULTS_RESULTS (when set): the matrix script prints them."""
    path = os.environ.get("PREFECT_FAULTS_RESULTS")
    if not path:
        return
    with open(path, "a") as f:
        cell = {"matrix": matrix, "row": row, "col": col, "ok": not problems}
        more = {"problems": problems, "seconds": round(seconds, 1), "message": message}
        f.write(json.dumps({**cell, **more}) + "\n")
