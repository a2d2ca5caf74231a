"""Signals against the real plugin process (fake kubectl/helm): every step × SIGINT to the process group
(a terminal's Ctrl-C), SIGTERM and SIGHUP to the plugin only; the second signal; SIGKILL during helm.

Each case: the call in flight is held by the fake so the signal arrives mid-call; the plugin must exit
128+signal with the state and a `Resume:` line, leave no probe pod, let an in-flight write finish,
release the lease, and a plain re-run must then reach the target. Last, the main thread's own waits
when another of the plugin's threads took the signal."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest

from kubectl_prefect_rollback import interrupt, pending
from tests.fakes.fixture import ENTRY
from tests.fakes.plugin_server import Run

LEASE = "customer-managed-prefect-rollback"
JOB = "customer-managed-downgrade-to-1-2-0"
RELEASE = "customer-managed/customer-managed"
ARGS = ("rollback", "--to", "1.2.0", "--yes")


SLEEP = interrupt.sleep  # uncapped: the fake fixture caps every test's pauses (fixture.PAUSE)
FIRST = "stopping after the call in flight"  # what the plugin says when the first signal reached it


class Plugin:
    """The plugin as a terminal runs it: a real process, the leader of its own process group (forked
    by tests/fakes/plugin_server.py instead of a Python start each). Its stderr is read as it comes, so
    a test can wait until the plugin has taken in a signal."""

    def __init__(self, server: str, *args: str) -> None:
        (out_r, out_w), (err_r, err_w) = os.pipe(), os.pipe()
        try:
            self.p = Run(server, [str(ENTRY), *args], out_w, err_w)
        finally:
            os.close(out_w)
            os.close(err_w)
        self.pid = self.p.pid
        self._out: list[str] = []
        self._err: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(fd, into), daemon=True)
            for fd, into in ((out_r, self._out), (err_r, self._err))
        ]
        for t in self._readers:
            t.start()

    @staticmethod
    def _read(fd: int, into: list[str]) -> None:
        with open(fd, encoding="utf-8", errors="replace") as f:
            for line in f:
                into.append(line)

    def said(self, text: str):
        return lambda: text in "".join(self._err)

    def poll(self) -> int | None:
        return self.p.poll()

    def send_signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def communicate(self, timeout: float) -> tuple[str, str]:
        self.p.wait(timeout=timeout)
        for t in self._readers:
            t.join(timeout=timeout)
        return "".join(self._out), "".join(self._err)

    @property
    def returncode(self) -> int | None:
        return self.p.returncode


@pytest.fixture(autouse=True)
def _plugins(fake, plugin_server: str) -> None:
    fake.plugins = plugin_server


def start(fake, *extra: str) -> Plugin:
    return Plugin(fake.plugins, *ARGS, *extra)


def wait_for(cond, what: str, timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def called(fake, prog: str, *words: str):
    return lambda: any(all(w in " ".join(c["argv"]) for w in words) for c in fake.calls(prog))


def send(p: Plugin, sig: int, *, group: bool) -> None:
    if group:
        os.killpg(p.pid, sig)  # what a terminal does on Ctrl-C: the whole foreground group
    else:
        p.send_signal(sig)


def finish_job(fake) -> None:
    """The downgrade Job that was left running completes (its pod's containers exit 0)."""
    with fake.edit() as st:
        st["job"]["running"] = False
        for k, o in st["objects"].items():
            if (o["metadata"].get("labels") or {}).get("job-name") == JOB:
                o["status"] = {
                    "phase": "Succeeded",
                    "containerStatuses": [
                        {"name": cs["name"], "state": {"terminated": {"exitCode": 0}}}
                        for cs in o["status"]["containerStatuses"]
                    ],
                }
            if k.endswith(f"/job/{JOB}"):
                o["status"] = {"conditions": [{"type": "Complete", "status": "True"}]}


def probes(fake) -> list[str]:
    return [n for n in fake.objects("pod") if "-probe-" in n]


def assert_rolled_back(fake) -> None:
    hist = fake.state["releases"][RELEASE]["history"]
    assert [h["version"] for h in hist if h["status"] == "deployed"] == ["1.2.0"]
    assert fake.obj("lease", LEASE) is None
    assert fake.obj("deployment", "customer-managed-server")["spec"]["replicas"] == 3
    assert fake.obj("deployment", "customer-managed-ui")["spec"]["replicas"] == 2
    assert not probes(fake)


# step -> (the call held in flight: prog, match, nth; what to wait for before the signal). A held read
# is stopped by the plugin; a held write is released once the plugin has taken the signal in (WRITES),
# and must then finish. HOLD only bounds a hold that a broken plugin never ends.
CREATE = r"^create (?!.*--dry-run)"  # a real create: the probe pod's is the 1st, the lease's the 2nd
STEPS = {
    "plan-probe": (
        ("kubectl", r"^get .* pod customer-managed-probe-", 1),
        ("kubectl", "get", "pod", "-probe-"),
    ),
    "lock": (("kubectl", CREATE, 2), ("kubectl", "create")),
    "record": (("kubectl", CREATE, 3), ("kubectl", "create")),
    "scale-down": (("kubectl", r"^scale .*--replicas=0", 1), ("kubectl", "scale", "--replicas=0")),
    "downgrade": (None, ("kubectl", "logs", "--follow")),
    "chart": (None, ("helm", "upgrade")),
    "verify": (("kubectl", r"^get .* deployments,pods", 1), ("kubectl", "deployments,pods")),
    "unlock": (("kubectl", r"^delete .* lease ", 1), ("kubectl", "delete", "lease")),
}
WRITES = ("lock", "record", "scale-down", "unlock")
HOLD = 30
SIGNALS = {
    "SIGINT-group": (signal.SIGINT, True),
    "SIGTERM": (signal.SIGTERM, False),
    "SIGHUP": (signal.SIGHUP, False),
}


def _ready(fake, step: str):
    hold, (prog, *words) = STEPS[step]
    if step == "chart":  # its signal handlers are in place
        return lambda: "helm_listening" in fake.state
    if step in ("lock", "record"):
        n = 2 if step == "lock" else 3
        creates = lambda: (c for c in fake.calls("kubectl") if c["argv"][0] == "create")  # noqa: E731
        return lambda: sum(1 for c in creates() if "--dry-run=server" not in c["argv"]) >= n
    return called(fake, prog, *words)


@pytest.mark.parametrize("sig_name", list(SIGNALS))
@pytest.mark.parametrize("step", list(STEPS))
def test_signal_mid_step_exits_with_state_then_rerun_completes(fake, step: str, sig_name: str) -> None:
    sig, group = SIGNALS[sig_name]
    hold = STEPS[step][0]
    if hold:
        prog, match, nth = hold
        fake.hold(prog, match, HOLD, nth=nth, released=True)
    with fake.edit() as st:
        st["job"]["running"] = step == "downgrade"
        st["upgrade_hold"] = HOLD if step == "chart" else 0
    p = start(fake)
    wait_for(_ready(fake, step), f"{step} in flight")
    send(p, sig, group=group)
    if step in WRITES:  # the write in flight may finish only after the plugin took the signal in
        wait_for(p.said(FIRST), "the plugin took the signal in")
        fake.release()
    _, err = p.communicate(timeout=60)
    # the unlock's delete was in flight and finished: nothing was left to do, so the rollback succeeded
    assert p.returncode == (0 if step == "unlock" else 128 + sig), err
    assert "Traceback" not in err
    assert not probes(fake), "a probe pod was left behind"
    lease = fake.obj("lease", LEASE)
    if step == "plan-probe":
        assert "nothing was changed" in err and lease is None
    elif step == "unlock":
        assert lease is None and "that step finished, so the rollback is complete" in err
    else:
        assert lease is not None and lease["spec"]["holderIdentity"] == "", "lease not released for a resume"
        assert "State now:" in err and "steps done:" in err and "servers:" in err and "databases:" in err
        assert "lock: lease customer-managed-prefect-rollback released" in err
        assert "Resume: kubectl prefect-rollback rollback --to 1.2.0 --yes -n customer-managed" in err
    if step == "scale-down":  # the in-flight write was not killed half way: it took effect
        assert fake.obj("deployment", "customer-managed-server")["spec"]["replicas"] == 0
    if step == "chart":  # helm got the signal itself and recorded the release as failed
        assert fake.state["helm_signals"] == [signal.SIGINT if sig == signal.SIGINT else signal.SIGTERM]
        assert fake.state["releases"][RELEASE]["history"][-1]["status"] == "failed"
    if step == "downgrade":
        assert f"job/{JOB} is running and keeps running" in err
        assert f"`kubectl delete job {JOB} -n customer-managed` stops it" in err
        finish_job(fake)
    fake.clear_failures()
    with fake.edit() as st:
        st["upgrade_hold"] = 0
    fake.reset_calls()
    again = fake.cli(*ARGS)
    assert again.exit_code == 0, again.stderr
    if step == "unlock":  # nothing was left to do: the re-run says so and changes nothing
        assert "already rolled back to 1.2.0; databases at target heads" in again.stderr
        assert not fake.mutations(), fake.mutations()
    if step == "downgrade":  # the re-run attached to the Job left running instead of creating another
        assert "skipping: job/" in again.stderr
        assert fake.jobs_created() == 0, "the re-run attaches to the running Job"
    assert_rolled_back(fake)


def test_second_signal_abandons_at_once_naming_what_is_left(fake) -> None:
    with fake.edit() as st:
        st["upgrade_hold"] = 30
        st["upgrade_deaf"] = True  # a helm that takes its time over the first signal
    p = start(fake)
    wait_for(lambda: "helm_listening" in fake.state, "helm upgrade in flight")
    send(p, signal.SIGINT, group=True)
    wait_for(lambda: fake.state.get("helm_ignored") == [signal.SIGINT], "SIGINT forwarded to helm")
    time.sleep(0.2)  # a plugin that did not wait for helm would be gone by now
    assert p.poll() is None  # the first signal waits for helm
    t0 = time.monotonic()
    send(p, signal.SIGINT, group=True)
    _, err = p.communicate(timeout=10)
    assert time.monotonic() - t0 < 3
    assert p.returncode == 130, err
    assert "Second SIGINT: abandoning at once" in err
    assert "may be left: lease customer-managed-prefect-rollback" in err
    assert f"helm upgrade (pid {fake.state['helm_pid']}) still running" in err
    os.kill(fake.state["helm_pid"], signal.SIGKILL)


def _age_lease(fake, seconds: int) -> None:
    with fake.edit() as st:
        lease = st["objects"][f"customer-managed/lease/{LEASE}"]
        t = time.gmtime(time.time() - seconds)
        lease["spec"]["renewTime"] = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", t)


def _orphan_finishes_once_waited_for(fake, monkeypatch) -> None:
    """The orphaned helm finishes its upgrade as soon as the re-run has found it pending and is waiting
    for it (pending.settle's first look), not after a fixed time."""
    look = pending._current

    def current(t, name):
        rel = look(t, name)
        if rel is not None and rel.pending:
            fake.release()
        return rel

    monkeypatch.setattr(pending, "_current", current)


def test_sigkill_during_helm_then_rerun_waits_for_the_orphaned_helm_and_completes(fake, monkeypatch) -> None:
    with fake.edit() as st:
        st["upgrade_hold"] = HOLD  # the helm child outlives the plugin and then finishes the upgrade
    p = start(fake)
    wait_for(lambda: "helm_listening" in fake.state, "helm upgrade in flight")
    os.killpg(p.pid, signal.SIGKILL)  # only the plugin's group: helm is in its own session
    p.communicate(timeout=10)
    # the lease still names the dead run: refused, saying when it expires and that --force-unlock exists
    refused = fake.cli(*ARGS)
    assert refused.exit_code == 3
    assert "expires at" in refused.stderr and "--force-unlock" in refused.stderr
    _age_lease(fake, 20)  # its holder stopped renewing 20 s ago
    with fake.edit() as st:
        st["upgrade_hold"] = 0
    _orphan_finishes_once_waited_for(fake, monkeypatch)
    again = fake.cli(*ARGS, "--force-unlock")
    assert again.exit_code == 0, again.stderr
    assert "may still be running; waiting up to" in again.stderr
    hist = fake.state["releases"][RELEASE]["history"]
    assert [h["status"] for h in hist if h["revision"] > 3] == ["deployed"]  # its upgrade, not a second one
    assert_rolled_back(fake)


def test_ctrl_c_during_probe_of_plan_command_deletes_the_probe(fake) -> None:
    with fake.edit() as st:
        st["probe_phase"] = "Running"
    p = Plugin(fake.plugins, "plan", "--to", "1.2.0")
    wait_for(called(fake, "kubectl", "get", "pod", "-probe-"), "probe pod polled")
    os.killpg(p.pid, signal.SIGINT)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 130, err
    assert "Traceback" not in err
    assert not probes(fake)
    deletes = [c["argv"] for c in fake.calls("kubectl") if c["argv"][0] == "delete"]
    assert any("pod" in d and any("-probe-" in a for a in d) for d in deletes)


def test_report_of_an_interrupted_run_is_0600_and_says_interrupted(fake, tmp_path) -> None:
    report = tmp_path / "r.json"
    report.write_text("old")
    report.chmod(0o644)
    fake.hold("kubectl", r"^scale .*--replicas=0", HOLD, released=True)
    p = start(fake, "--report", str(report))
    wait_for(called(fake, "kubectl", "scale", "--replicas=0"), "scale in flight")
    send(p, signal.SIGTERM, group=False)
    wait_for(p.said(FIRST), "the plugin took the signal in")
    fake.release()
    p.communicate(timeout=60)
    assert p.returncode == 143
    assert oct(report.stat().st_mode & 0o777) == "0o600"
    doc = json.loads(report.read_text())
    assert doc["outcome"] == "interrupted"
    assert doc["steps"][-1]["detail"] == "interrupted by SIGTERM"


def test_a_pause_of_the_main_thread_ends_soon_when_a_worker_thread_took_the_signal(plugin_handlers) -> None:
    """interrupt.sleep in the main thread (a poll's pause, up to 2 s) looks for a signal that another
    thread took every interrupt.CHECK seconds, not only at the end of the pause."""
    assert plugin_handlers is interrupt

    def take_the_signal() -> None:
        time.sleep(0.2)  # the main thread pauses by now
        signal.pthread_kill(threading.get_ident(), signal.SIGTERM)  # this thread takes it, not the main one

    threading.Thread(target=take_the_signal).start()
    t0 = time.monotonic()
    with interrupt.busy(), pytest.raises(interrupt.Stopped):
        SLEEP(3)
    assert time.monotonic() - t0 < 1
