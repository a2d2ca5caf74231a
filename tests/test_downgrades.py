"""downgrades.run_jobs against fake kubectl/helm: the chart's three migration Jobs (one per database)
run at once, each to its own end and judged by its own exit codes; a failure is reported per Job and
database after all ended (exit 4) and a re-run skips the Jobs that succeeded; two Jobs of one database
stay one after another; a signal during the three leaves them running and the cluster resumable.

Concurrency is proven by the fake cluster's state, never by timing: a kubelet thread holds every
downgrade pod Running and ends them only once the wanted ones run side by side.
"""

from __future__ import annotations

import functools
import json
import os
import re
import signal
import threading
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import yaml

from kubectl_prefect_rollback import output
from tests.fakes.fixture import DATA, initial_state
from tests.test_interrupt import LEASE, _age_lease, assert_rolled_back, send, start, wait_for

JOB = "customer-managed-downgrade-to-1-2-0"
DBS = ("nebula", "orion", "events")
# --timeout: a plugin that waits wrongly fails the test within seconds, not after the default hour
ARGS = ("rollback", "--to", "1.2.0", "--yes", "--timeout", "30")
EVENTS_130 = "2026_01_21_100000_4c6f1e2d8a31_add_event_index.py"
# 1.3.0 also adds an events migration here, so each of the three databases has one to revert
EVENTS_LISTING = "".join(
    f"events\t{kind}\t{EVENTS_130}{value}\n"
    for kind, value in (
        ("file", ""),
        ("description", "\tadd event index"),
        ("revision", "\trevision = '4c6f1e2d8a31'"),
        ("down_revision", '\tdown_revision = "3b5402bd348f"'),
    )
)
Pods = dict[str, dict[str, Any]]


@pytest.fixture(autouse=True)
def _plugins(fake, plugin_server: str) -> None:
    """The signal tests start the plugin as a real process through the plugin server (test_interrupt)."""
    fake.plugins = plugin_server


def split_jobs(fake, containers: dict[str, list[str]]) -> None:
    """The deployed release's migration Job split into one Job per entry: Job name suffix -> the
    names of the chart's containers it runs (a container name repeated gets a `2` for the copy)."""
    hooks = _split_hooks(tuple((suffix, tuple(names)) for suffix, names in containers.items()))
    with fake.edit() as st:
        st["releases"]["customer-managed/customer-managed"]["history"][-1]["hooks"] = hooks
        st["job"]["running"] = True  # every downgrade pod stays Running until the kubelet below ends it


@functools.cache
def _split_hooks(containers: tuple[tuple[str, tuple[str, ...]], ...]) -> str:
    """split_jobs' hooks text, made once per split in a worker (the YAML round trips were a tenth of
    this file's CPU)."""
    text = (DATA / "release" / "db-migration-job.yaml").read_text().replace("@VERSION@", "1.3.0")
    base = yaml.safe_load(text)
    by_name = {c["name"]: c for c in base["spec"]["template"]["spec"]["containers"]}
    docs = []
    for suffix, names in containers:
        job = yaml.safe_load(text)
        job["metadata"]["name"] = f"customer-managed-{suffix}-db-migrations"
        picked = [dict(by_name[n.rstrip("2")], name=n) for n in names]
        job["spec"]["template"]["spec"]["containers"] = picked
        docs.append("---\n# Source: prefect-cloud/templates/db-migration-job.yaml\n" + yaml.safe_dump(job))
    return "".join(docs) + (DATA / "release" / "hooks.yaml").read_text()


def three_jobs(fake) -> None:
    split_jobs(fake, {db: [db] for db in DBS})
    with fake.edit() as st:
        image = "registry.local/cloud/server:1.3.0"
        st["listings"][image] = st["listings"][image].replace("#end\n", EVENTS_LISTING + "#end\n")


class Kubelet(threading.Thread):
    """Watches the fake cluster's downgrade pods. `decide(running)` names the pods to end now and with
    which exit code (running: pod -> its Job); a pod running `stall` seconds with no decision is ended
    with 0, so a wrong (one-by-one) plugin still finishes and the test fails on what was seen."""

    def __init__(self, fake, decide: Callable[[dict[str, str]], dict[str, int]], stall: float = 3.0) -> None:
        super().__init__(daemon=True)
        self.fake, self.decide, self.stall = fake, decide, stall
        self.together: list[frozenset[str]] = []  # the Jobs whose pods were Running at one moment
        self.ended: list[str] = []  # Jobs, in the order their pods ended
        self.calls_before_end: dict[str, int] = {}  # Job -> how many calls were logged before it ended
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        since: dict[str, float] = {}
        while not self.stop.wait(0.02):
            running = self._running()
            if running and frozenset(running.values()) not in self.together:
                self.together.append(frozenset(running.values()))
            for pod in running:
                since.setdefault(pod, time.monotonic())
            try:
                end = self.decide(running)
            except Exception as e:  # the test's own bug: say it, and let the stall end the pods
                self.error, self.decide = e, lambda running: {}
                end = {}
            end |= {p: 0 for p in running if time.monotonic() - since[p] > self.stall and p not in end}
            if end:
                self._end(end, running)

    def _running(self) -> dict[str, str]:
        pods = {
            k.rsplit("/", 1)[1]: o
            for k, o in self.fake.state["objects"].items()
            if "/pod/" in k and (o["metadata"].get("labels") or {}).get("job-name", "").startswith(JOB)
        }
        return {
            n: p["metadata"]["labels"]["job-name"]
            for n, p in pods.items()
            if p["status"]["phase"] == "Running"
        }

    def _end(self, end: dict[str, int], running: dict[str, str]) -> None:
        logged = len(self.fake.calls())
        with self.fake.edit() as st:
            for pod, code in end.items():
                obj = st["objects"][f"customer-managed/pod/{pod}"]
                obj["status"] = {
                    "phase": "Succeeded" if code == 0 else "Failed",
                    "containerStatuses": [
                        {"name": cs["name"], "state": {"terminated": {"exitCode": code}}}
                        for cs in obj["status"]["containerStatuses"]
                    ],
                }
                job = st["objects"][f"customer-managed/job/{running[pod]}"]
                job["status"] = {
                    "conditions": [{"type": "Complete" if code == 0 else "Failed", "status": "True"}]
                }
                self.ended.append(running[pod])
                self.calls_before_end[running[pod]] = logged


def all_three_at_once(
    code: Callable[[str], int] = lambda job: 0,
) -> Callable[[dict[str, str]], dict[str, int]]:
    """End the pods only once all three Jobs run side by side."""
    return lambda running: {p: code(j) for p, j in running.items()} if len(running) == 3 else {}


@contextmanager
def kubelet(fake, decide, stall: float = 3.0) -> Iterator[Kubelet]:
    k = Kubelet(fake, decide, stall)
    k.start()
    try:
        yield k
    finally:
        k.stop.set()
        k.join(timeout=5)
    assert k.error is None, f"the test's kubelet failed: {k.error!r}"


def test_three_jobs_all_run_before_any_finishes(fake) -> None:
    three_jobs(fake)
    with kubelet(fake, all_three_at_once()) as k:
        result = fake.cli(*ARGS)
    assert result.exit_code == 0, result.stderr
    assert frozenset(f"{JOB}-{db}" for db in DBS) in k.together, k.together  # all Running at one moment
    assert sorted(k.ended) == sorted(f"{JOB}-{db}" for db in DBS)
    for db in DBS:  # each database's log prefixed, each Job judged on its own
        assert f"[{db}] INFO  [alembic.runtime.migration] Running downgrade ({db})" in result.stderr
        assert f"job/{JOB}-{db}: {db} exit 0" in result.stderr
    assert "downgrade: nebula exit 0, orion exit 0, events exit 0" in result.stderr
    assert_rolled_back(fake)


def test_one_failing_while_two_run_lets_them_finish_then_exits_4_per_database(fake) -> None:
    three_jobs(fake)
    nebula, orion, events = (f"{JOB}-{db}" for db in DBS)
    orion_read = threading.Event()  # the plugin read orion's pod after it failed, the other two running

    def decide(running: dict[str, str]) -> dict[str, int]:
        jobs = {j: p for p, j in running.items()}
        if len(running) == 3:  # orion fails while nebula and events still run
            return {jobs[orion]: 1}
        if orion not in k.calls_before_end or set(jobs) != {nebula, events}:
            return {}
        if orion_read.is_set():
            return {p: 0 for p in running}
        orion_pod = next(n for n in fake.objects("pod") if n.startswith(orion))
        looks = [c for c in fake.calls()[k.calls_before_end[orion] :] if orion_pod in c["argv"]]
        if any(c["argv"][0] == "get" for c in looks):
            orion_read.set()
        return {}

    with kubelet(fake, decide, stall=10) as k:
        result = fake.cli(*ARGS)
    assert result.exit_code == 4, result.stderr
    assert orion_read.is_set(), "orion's failure was read while nebula and events ran"
    assert k.ended[0] == orion and sorted(k.ended[1:]) == sorted([nebula, events])
    err = result.stderr
    assert "downgrade failed for orion (1 of 3 Jobs); nebula, events finished" in err
    assert f"job/{nebula}: nebula exit 0" in err and f"job/{events}: events exit 0" in err
    assert f"job/{orion}: orion exit 1" in err
    assert f"--retry to recreate job/{orion}" in err and "chart was NOT changed" in err
    assert not [c for c in fake.calls("kubectl") if c["argv"][0] == "delete" and "job" in c["argv"]]
    assert not [c for c in fake.calls("helm") if c["argv"][0] == "upgrade"]


def test_rerun_refuses_without_retry_then_skips_the_jobs_that_succeeded(fake) -> None:
    three_jobs(fake)
    with kubelet(fake, all_three_at_once(lambda job: 1 if job.endswith("-events") else 0)):
        first = fake.cli(*ARGS)
    assert first.exit_code == 4, first.stderr
    assert "downgrade failed for events (1 of 3 Jobs); nebula, orion finished" in first.stderr
    with fake.edit() as st:
        st["job"]["running"] = False  # a recreated Job now succeeds at once
    fake.reset_calls()

    refused = fake.cli(*ARGS)
    assert refused.exit_code == 4, refused.stderr
    assert f"job/{JOB}-events failed in an earlier run" in refused.stderr and "--retry" in refused.stderr
    assert fake.jobs_created() == 0, "nothing starts before the operator looked at the failed Job"
    fake.reset_calls()

    again = fake.cli(*ARGS, "--retry")
    assert again.exit_code == 0, again.stderr
    for db in ("nebula", "orion"):
        assert f"skipping: job/{JOB}-{db} already succeeded" in again.stderr
    deleted = [c["argv"] for c in fake.calls("kubectl") if c["argv"][0] == "delete" and "job" in c["argv"]]
    assert [d[d.index("job") + 1] for d in deleted] == [f"{JOB}-events"]
    assert fake.jobs_created() == 1, "only the failed Job is created again"
    assert_rolled_back(fake)


def test_two_jobs_of_one_database_run_one_after_the_other_beside_the_third(fake) -> None:
    # Job 1 and Job 3 both revert nebula: 3 must see what 1 did; Job 2 (orion) shares nothing
    split_jobs(fake, {"first": ["nebula"], "second": ["orion"], "third": ["nebula2"]})
    first, second, third = (f"{JOB}-{i}" for i in (1, 2, 3))

    def decide(running: dict[str, str]) -> dict[str, int]:
        jobs = set(running.values())
        if jobs == {first, second}:  # the two that may run at once did: end them
            return {p: 0 for p in running}
        return {p: 0 for p, j in running.items() if j == third}

    with kubelet(fake, decide, stall=3) as k:
        result = fake.cli("rollback", "--to", "1.2.0", "--yes")
    assert result.exit_code == 0, result.stderr
    assert frozenset({first, second}) in k.together, k.together
    assert not any({first, third} <= s for s in k.together), "two Jobs of nebula ran at the same time"
    assert k.ended.index(first) < k.ended.index(third)
    assert fake.jobs_created() == 3


def test_one_failing_job_of_a_database_keeps_its_later_job_from_starting(fake) -> None:
    split_jobs(fake, {"first": ["nebula"], "second": ["orion"], "third": ["nebula2"]})
    first, second, third = (f"{JOB}-{i}" for i in (1, 2, 3))
    with kubelet(fake, lambda running: {p: 1 if j == first else 0 for p, j in running.items()}, stall=3) as k:
        result = fake.cli("rollback", "--to", "1.2.0", "--yes")
    assert result.exit_code == 4, result.stderr
    assert f"job/{third} (nebula): not started, as an earlier Job of its database failed" in result.stderr
    assert f"job/{second}: orion exit 0" in result.stderr
    assert third not in k.ended and fake.obj("job", third) is None


@pytest.mark.parametrize(
    ("sig", "group"), [(signal.SIGINT, True), (signal.SIGTERM, False)], ids=["SIGINT-group", "SIGTERM"]
)
def test_a_signal_during_the_three_jobs_leaves_them_running_then_a_rerun_resumes(fake, sig, group) -> None:
    three_jobs(fake)
    p = start(fake, "--timeout", "30")
    wait_for(lambda: follows(fake) >= 3, "the three Jobs followed")
    running = Kubelet(fake, lambda r: {})._running()
    assert sorted(running.values()) == sorted(f"{JOB}-{db}" for db in DBS)
    send(p, sig, group=group)  # a terminal's Ctrl-C reaches the whole group; SIGTERM only the plugin
    _, err = p.communicate(timeout=60)
    assert p.returncode == 128 + sig, err
    assert "Traceback" not in err
    for db in DBS:  # each Job left running, said per Job, none deleted
        assert f"job/{JOB}-{db} is running and keeps running" in err
        assert fake.obj("job", f"{JOB}-{db}") is not None
    assert "lock: lease customer-managed-prefect-rollback released" in err
    assert not [c for c in fake.calls("kubectl") if c["argv"][0] == "delete" and "job" in c["argv"]]
    assert not [c for c in fake.calls("helm") if c["argv"][0] == "upgrade"]
    fake.reset_calls()
    # the re-run attaches to the three Jobs still running; they end once all three are followed again
    with kubelet(fake, lambda running: {p: 0 for p in running} if follows(fake) >= 3 else {}, stall=10):
        again = fake.cli(*ARGS)
    assert again.exit_code == 0, again.stderr
    for db in DBS:
        assert f"job/{JOB}-{db} is running: attaching" in again.stderr
        assert f"job/{JOB}-{db}: {db} exit 0" in again.stderr
    assert fake.jobs_created() == 0, "the re-run created no Job"
    assert_rolled_back(fake)


def follows(fake) -> int:
    return sum(1 for c in fake.calls("kubectl") if "--follow" in c["argv"])


def test_a_colour_per_database_on_a_tty_and_none_with_no_color(fake, monkeypatch) -> None:
    three_jobs(fake)
    with fake.edit() as st:
        st["job"]["running"] = False
    # a terminal: stderr says it is a TTY, and click keeps the escapes (CliRunner's color=True)
    monkeypatch.setattr(
        output, "sys", types.SimpleNamespace(stderr=types.SimpleNamespace(isatty=lambda: True))
    )
    coloured = cli_on_a_tty(*ARGS)
    assert coloured.exit_code == 0, coloured.stderr
    tags = {db: re.search(rf"(\x1b\[[0-9;]*m)\[{db}\]", coloured.stderr) for db in DBS}
    assert all(tags.values()), coloured.stderr
    assert len({m.group(1) for m in tags.values() if m}) == 3, "one colour per database"

    fake.state_path.write_text(json.dumps(initial_state()))
    three_jobs(fake)
    with fake.edit() as st:
        st["job"]["running"] = False
    monkeypatch.setenv("NO_COLOR", "1")
    plain = cli_on_a_tty(*ARGS)
    assert plain.exit_code == 0, plain.stderr
    assert "\x1b[" not in plain.stderr and "[orion] INFO" in plain.stderr


def cli_on_a_tty(*args: str):
    from click.testing import CliRunner

    from kubectl_prefect_rollback.cli import cli

    return CliRunner().invoke(cli, list(args), color=True, prog_name="kubectl-prefect_rollback")


def test_a_run_killed_while_the_chart_record_is_written_beside_helm_resumes_skipping_the_jobs(
    fake, monkeypatch
) -> None:
    """The lock wrote the chart step's record ahead; "downgrade done" and the exact record go to the
    lease beside helm. A run killed (helm with it) before that write lands leaves the record written
    ahead and no "downgrade done": a re-run finds the Jobs succeeded in the cluster and skips them,
    settles the upgrade helm may have begun within that record's deadline (on a clock that jumps
    here), and upgrades once."""
    from kubectl_prefect_rollback import pending
    from tests.test_pending import JumpingClock

    three_jobs(fake)
    with fake.edit() as st:
        st["job"]["running"] = False
        st["upgrade_hold"] = 30  # helm is half way when the kill comes: the release stays pending-upgrade
    fake.fail("kubectl", r"^replace ", sleep=5)  # the write never lands; the plugin is killed meanwhile
    p = start(fake)
    wait_for(lambda: any(c["argv"][0] == "replace" for c in fake.calls("kubectl")), "the lease write")
    wait_for(lambda: fake.state.get("helm_listening"), "helm half way")
    os.killpg(p.pid, signal.SIGKILL)
    p.communicate(timeout=10)
    ann = fake.obj("lease", LEASE)["metadata"]["annotations"]
    assert "prefect-rollback/downgrade" not in ann
    ahead = json.loads(ann["prefect-rollback/chart"])
    assert ahead["planned"] is True and (ahead["after-revision"], ahead["version"]) == (3, "1.2.0")
    assert all(fake.obj("job", f"{JOB}-{db}")["status"]["conditions"][0]["type"] == "Complete" for db in DBS)
    assert (
        fake.state["releases"]["customer-managed/customer-managed"]["history"][-1]["status"]
        == "pending-upgrade"
    )
    fake.clear_failures()
    with fake.edit() as st:
        st["upgrade_hold"] = 0
    _age_lease(fake, 40)  # the killed run's lease has expired: a plain re-run takes it over
    fake.reset_calls()
    monkeypatch.setattr(pending, "clock", JumpingClock())
    monkeypatch.setattr(pending, "POLL", 120.0)  # the jumps are long: a few looks to the deadline, not 300

    again = fake.cli(*ARGS)

    assert again.exit_code == 0, again.stderr
    assert "lock taken over" in again.stderr
    for db in DBS:
        assert f"skipping: job/{JOB}-{db} already succeeded" in again.stderr
    assert fake.jobs_created() == 0
    assert "of the interrupted run planned " in again.stderr  # waited for within the record ahead
    assert "revision 4 marked failed" in again.stderr
    assert len([c for c in fake.calls("helm") if c["argv"][0] == "upgrade"]) == 1
    assert_rolled_back(fake)
