"""The cells of the two matrices and how one is run and judged.

Cells run in chains on one App: a faulted run that failed and left the namespace exactly as it was
hands the App on to the next cell (a re-run from an unchanged cluster is the same for all of them, and
it is run once at the end of the chain); a run that changed anything, or finished, gets its re-run at
once and the next cell a fresh App. That keeps the ~50 pre-change cells at a few seconds each.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubectl_prefect_rollback.helm import UPGRADE_GRACE
from testbed.cluster import App
from tests.e2e.faults import harness

MODES = ("fail", "hang", "garbage", "empty")
SIGNALS = ("SIGINT", "SIGTERM", "SIGKILL")
SIGNAL_EXIT = {"SIGINT": 130, "SIGTERM": 143, "SIGKILL": 137}
# harness.bound_args; helm's child bound is its --helm-timeout plus the plugin's grace for hooks/records
STEP_BOUND = {"request": 8, "probe": 60, "job": 90, "helm": 60 + UPGRADE_GRACE, "verify": 90}


@dataclass(frozen=True)
class Call:
    step: str
    kind: str
    after: str | None = None
    bound: str = "request"

    @property
    def id(self) -> str:
        return f"{self.step}: {self.kind}"


def calls() -> list[Call]:
    doc = json.loads((harness.DATA / "calls.json").read_text())
    return [Call(**c) for c in doc["calls"]]


# Where each step starts, for the interruption matrix: the call whose start triggers the signal.
@dataclass(frozen=True)
class Moment:
    step: str
    kind: str
    after: str | None = None
    delay: float = 0.0
    when: str | None = None  # "pending": once the release is pending-upgrade (inside helm's --wait)
    group: bool = False  # signal the plugin's process group (a terminal's Ctrl-C), not just its pid

    @property
    def id(self) -> str:
        return self.step + (" (group)" if self.group else "")


MOMENTS = [
    Moment("plan", "helm list"),
    Moment("probe", "kubectl get pod", after="kubectl create pod"),
    Moment("lock", "kubectl create lease"),
    Moment("record", "kubectl create configmap"),
    Moment("scale-down", "kubectl scale deployment"),
    Moment("downgrade", "kubectl create job"),
    Moment("downgrade logs", "kubectl logs --follow", delay=1.0),
    Moment("chart", "helm upgrade"),
    Moment("chart --wait", "helm upgrade", when="pending"),
    Moment("chart --wait", "helm upgrade", when="pending", group=True),
    Moment("verify", "kubectl get deployments,pods", after="helm upgrade"),
    Moment("unlock", "kubectl delete lease"),
]


@dataclass
class Cell:
    matrix: str  # "faults" | "signals"
    row: str
    col: str
    spec: dict[str, Any]
    expect: set[int]
    outer: float
    kill: bool = False
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    result: harness.Result | None = None  # of the faulted run


def fault_cell(call: Call, mode: str) -> Cell:
    spec = {"kind": call.kind, "after": call.after, "mode": mode, "hang": 900}
    expect = {1, 3, 4, 5, 6} if mode != "hang" else {1, 4, 5, 6}  # 0 only when it really finished
    # A hang costs at most its bound; the run may then go on (a failed probe delete is left for the next
    # run), so the rest of a rollback under load is allowed on top. A 900 s hang still shows.
    outer = 150.0 + (STEP_BOUND[call.bound] if mode == "hang" else 0.0)
    return Cell("faults", call.id, mode, spec, expect | {0}, outer)


def signal_cell(moment: Moment, sig: str) -> Cell:
    spec = {"kind": moment.kind, "after": moment.after, "mode": "signal", "signal": sig}
    spec |= {"target": "pgrp" if moment.group else "pid", "delay": moment.delay, "when": moment.when}
    return Cell("signals", moment.id, sig, spec, {SIGNAL_EXIT[sig], 0}, 240.0, kill=sig == "SIGKILL")


# -- running ---------------------------------------------------------------------------------------------
def run_chain(fresh: Callable[[], tuple[App, harness.Shim]], cells: list[Cell]) -> list[Cell]:
    """Run the cells (see the module docstring); every cell ends with its problems (empty: passed).

    Cells that left the cluster unchanged owe a re-run from that (pristine) state: the chain's last
    App if it is still pristine, else a fresh one. A changing cell's own re-run never counts for them.
    Each cell is recorded as soon as it is judged, so an interrupted matrix still has its results.
    """
    app: App | None = None
    shim: harness.Shim | None = None
    owed: list[Cell] = []
    for cell in cells:
        if app is None:
            app, shim = fresh()
        assert shim is not None
        t0 = time.monotonic()
        unchanged = _faulted_run(app, shim, cell)
        cell.seconds = time.monotonic() - t0
        if unchanged:
            owed.append(cell)
            continue
        _rerun(app, shim, [cell])
        _done([cell])
        harness.dispose(app)  # its server pods would otherwise run (and cost CPU) until the test ends
        app = None
    if owed:
        if app is None:
            app, shim = fresh()
        assert shim is not None
        _rerun(app, shim, owed)
        _done(owed)
    return cells


def _done(done: list[Cell]) -> None:
    for cell in done:
        message = harness.last_lines(cell.result.stderr, 2) if cell.result else ""
        harness.record(cell.matrix, cell.row, cell.col, cell.problems, cell.seconds, message)


def _faulted_run(app: App, shim: harness.Shim, cell: Cell) -> bool:
    """Run one faulted rollback and judge it; True when it failed without touching the namespace."""
    before = harness.snapshot(app)
    shim.reset_log()
    spec = dict(cell.spec)
    if spec["mode"] == "signal":
        # the pid is known once started; the plugin's first call comes after its ~0.3 s start-up
        t0 = time.monotonic()
        proc = harness.start(shim, harness.rollback_argv(app))
        shim.set(**spec, pid=proc.pid)
        res = harness.finish(proc, t0, cell.outer)
    else:
        shim.set(**spec)
        res = harness.run(shim, harness.rollback_argv(app), cell.outer)
    fired = shim.fired()
    shim.clear()
    _stop_fault(shim, spec, fired)
    if not cell.kill and res.returncode is not None:
        time.sleep(1.0)
        orphans = sorted({c["kind"] for c in harness.leftovers(shim)})
        if orphans:  # Must 1: an exiting plugin leaves no kubectl/helm child running behind it
            cell.problems.append(f"children left running after exit: {', '.join(orphans)}")
    if not cell.kill:
        harness.reap_leftovers(shim, timeout=30)
    time.sleep(0.3)  # deletes with --wait=false land a moment later
    after = harness.snapshot(app)
    if not fired:
        cell.problems.append(f"the call never happened: no `{spec['kind']}` call matched")
    cell.problems += harness.problems_with_failure(res, before, after, expect=cell.expect)
    cell.problems += _message_problems(cell, res)
    if res.returncode == 0:
        cell.problems += [f"exit 0 but not finished: {p}" for p in harness.problems_with_target(app, res)]
    cell.result = res
    return bool(res.returncode) and res.returncode is not None and not harness.changed(before, after)


def _stop_fault(shim: harness.Shim, spec: dict[str, Any], fired: list[dict[str, Any]]) -> None:
    if spec["mode"] == "hang":  # the sleeper outlives a plugin that did not kill it
        for c in harness.leftovers(shim):
            if c in fired:
                harness.kill_pid(c["pid"])


def _message_problems(cell: Cell, res: harness.Result) -> list[str]:
    if res.returncode in (0, None, 137):
        return []
    bad = []
    text = res.stderr
    if cell.spec["mode"] == "hang" and not re.search(
        r"(?i)time(d)?[ -]?out|within \d|after \d+(\.\d+)?s", text
    ):
        bad.append("the message does not say a call timed out")
    if cell.spec["mode"] in ("garbage", "empty", "hang"):
        tool, verb = cell.spec["kind"].split()[:2]
        if not re.search(rf"{tool}\b[^\n]*\b{re.escape(verb)}\b", text):
            bad.append(f"the message does not name the command (`{tool} {verb} …`)")
    if "Resume:" in text and not all(w in text for w in ("servers", "databases", "lock")):
        bad.append("the state block does not say where servers, databases and lock are")
    return bad


def _rerun(app: App, shim: harness.Shim, cells: list[Cell]) -> None:
    """The fault-free re-run that must reach the target; its problems go to every cell that shares it."""
    last = cells[-1].result if len(cells) == 1 else None
    argv = harness.resume_argv(last, app) if last else harness.rollback_argv(app)
    res = harness.run(shim, harness.generous(argv), 420)
    if res.returncode == 3 and any(c.kill for c in cells) and re.search(r"(?i)expire", res.stderr):
        harness.wait_lease_expiry(app)  # a SIGKILLed holder cannot release: its lease must run out
        res = harness.run(shim, harness.generous(argv), 420)
    problems = harness.problems_with_target(app, res)
    if problems and cells[-1].kill:
        harness.reap_leftovers(shim, timeout=60)
    for cell in cells:
        cell.problems += [f"re-run: {p}" for p in problems]
