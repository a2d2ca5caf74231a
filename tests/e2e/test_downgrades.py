"""Three downgrade Jobs for real (the fixture chart's `migrations.separateJobs`: one Job per database) on
kubesim with real Alembic: they run at once, one failing leaves the other two to finish and is reported
per database (exit 4), and a re-run after the cause is fixed resumes, skipping the Jobs that succeeded."""

from __future__ import annotations

import time

from testbed import app as fixture
from testbed.cluster import RELEASE

TO = "1.2.0"
THREE = {"migrations": {"separateJobs": True}}
JOB = f"{RELEASE}-downgrade-to-1-2-0"


def _downgrade_pods(cluster, namespace: str, since: float) -> dict[str, list]:
    """Pod name -> its changes, for the pods that run `… database downgrade` (from kubesim's timeline)."""
    pods: dict[str, list] = {}
    for c in cluster.sim.timeline.changes_in(namespace, since=since):
        words = [
            " ".join([*(x.get("command") or []), *(x.get("args") or [])])
            for x in (c.obj.get("spec") or {}).get("containers") or []
        ]
        if c.kind == "Pod" and any("database downgrade" in w for w in words):
            pods.setdefault(c.name, []).append(c)
    return pods


def _finished_rv(changes: list) -> int | None:
    done = [c.rv for c in changes if (c.obj.get("status") or {}).get("phase") in ("Succeeded", "Failed")]
    return min(done) if done else None


def test_one_of_three_jobs_failing_exits_4_per_database_then_a_fixed_rerun_resumes(make_app, cluster) -> None:
    app = make_app()
    app.install("1.2.0", **THREE)
    app.install("1.3.0", **THREE)
    at_130, target = fixture.release_heads("1.3.0"), fixture.release_heads(TO)
    assert all(at_130[db] != target[db] for db in fixture.DATABASES), "each database has one to revert"
    since = time.monotonic()
    cluster.sim.fail_container(r"^orion$", 1)  # orion's migration container exits 1
    cluster.sim.set_start_delay(1.0)  # every container starts a second late: all three pods exist first
    args = ("rollback", "--to", TO, "--chart", app.chart(TO), "--yes")

    first = app.plugin(*args, check=False, timeout=600)

    cluster.sim.reset_faults()
    assert first.returncode == 4, first.stderr
    err = first.stderr
    assert "downgrade failed for orion (1 of 3 Jobs); nebula, events finished" in err
    assert f"job/{JOB}-orion: orion exit 1" in err
    assert f"job/{JOB}-nebula: nebula exit 0" in err and f"job/{JOB}-events: events exit 0" in err
    assert f"--retry to recreate job/{JOB}-orion" in err
    heads = app.heads()
    assert (heads["nebula"], heads["events"]) == (target["nebula"], target["events"]), "the two finished"
    assert heads["orion"] == at_130["orion"]
    assert app.release()["chart"] == "prefect-cloud-1.3.0", "the chart was not changed"
    pods = _downgrade_pods(cluster, app.namespace, since)
    assert sorted(name.rsplit("-", 2)[-2] for name in pods) == sorted(fixture.DATABASES)
    first_end = min(rv for rv in map(_finished_rv, pods.values()) if rv is not None)
    assert all(changes[0].rv < first_end for changes in pods.values()), "all three ran side by side"

    again = app.plugin(*args, "--retry", timeout=600)

    assert f"skipping: job/{JOB}-nebula already succeeded" in again.stderr
    assert f"skipping: job/{JOB}-events already succeeded" in again.stderr
    assert f"job/{JOB}-orion: orion exit 0" in again.stderr
    assert "Rolled back customer-managed from 1.3.0 to 1.2.0" in again.stderr
    assert app.heads() == target
    assert app.release()["chart"] == f"prefect-cloud-{TO}"
