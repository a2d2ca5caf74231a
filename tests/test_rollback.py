"""`rollback` against fake kubectl/helm: the exact argv of every step, values only on stdin, resume after a
failure at each step, Ctrl-C, and the JSON report."""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest

from kubectl_prefect_rollback import migrations
from tests.fakes.listings import listing_path

NS = ("--namespace", "customer-managed")
KNS = (*NS, "--request-timeout", "30s")  # every kubectl call but exec is one bounded request
JOB = "customer-managed-downgrade-to-1-2-0"
LEASE = "customer-managed-prefect-rollback"
# leftover probe and backup pods of ours: listed by managed-by, their role checked on each pod
LEFTOVERS = "app.kubernetes.io/managed-by=kubectl-prefect-rollback"
RECORDS = "customer-managed-prefect-rollback-revisions"
DESCRIPTION = "prefect-rollback: 1.3.0 -> 1.2.0; nebula 9c1e02b7d4aa, orion 5be81c0d2f34, events 3b5402bd348f"
SECRET = "s3cr3t-values-password"  # in the values of revision 2, the last that ran 1.2.0


def shape(argv: list[str]) -> list[str]:
    """argv with the listing script and generated pod names shortened, for exact comparison."""
    out = []
    for a in argv:
        if a.startswith("LC_ALL=C"):
            a = "<listing-script>"
        elif a.startswith("customer-managed-server-"):
            a = "<server-pod>"
        elif a.startswith("customer-managed-probe-1-2-0-"):
            a = "<probe-pod>"
        out.append(a)
    return out


LIST = ["list", "--deployed", "--failed", "--pending", "--uninstalling", "--output", "json", *NS]
K = ["kubectl"]
H = ["helm"]
GET = ["--ignore-not-found", "--output", "json"]
WRITE = ["--filename", "-", "--output", "json"]
OWN = ["--validate=false", *WRITE]  # the lease, the records, the dry-run Job: no second validation
HELP = "echo '#downgrade-help'; prefect-cloud nebula database downgrade --help 2>&1 | head -n 60; exit 0"
POD = f"{JOB}-p0001"
# Every call of a full run, once each unless repeated here. The plan reads concurrently, so the order is
# checked separately (test_full_rollback_step_order).
EXPECTED = [
    H + LIST,
    H + LIST,
    H + ["history", "customer-managed", "--max", "256", "--output", "json", *NS],
    H + ["get", "values", "customer-managed", "--revision", "2", "--output", "json", *NS],
    H + ["get", "hooks", "customer-managed", "--revision", "3", *NS],
    H + ["get", "manifest", "customer-managed", "--revision", "3", *NS],
    H
    + [
        "template",
        "customer-managed",
        "./prefect-cloud-1.2.0.tgz",
        "-f",
        "-",
        *NS,
    ],  # the whole target chart: it must render before anything changes
    K + ["create", *KNS, "--dry-run=server", *WRITE],  # the downgrade Job, checked by the API server
    H
    + [
        "upgrade",
        "--install",
        "customer-managed",
        "./prefect-cloud-1.2.0.tgz",
        "--version",
        "1.2.0",
        *NS,
        "-f",
        "-",
        "--description",
        DESCRIPTION,
        "--wait",
        "--timeout",
        "10m",
    ],
    # helm 3.17 here: its `get metadata` names no applyMethod, so no server-side apply (no `helm version`)
    H + ["get", "metadata", "customer-managed", "--output", "json", *NS],
    # once each: the lock step takes the lease the plan saw, the record step writes from the plan's read
    # of the ConfigMap, listed by our label beside `helm list` (the listing exec starts knowing it)
    K + ["get", *KNS, "lease", LEASE, *GET],
    K + ["get", *KNS, "configmaps", "--selector", LEFTOVERS, "--output", "json"],
    K + ["get", *KNS, "pods,deployments", "--output", "json"],  # the plan's: one call for both
    # the downgrade Jobs' state, read beside the lease write for the downgrade step; the scale-down wait
    K + ["get", *KNS, "jobs", "--output", "json"],
    K + ["get", *KNS, "deployments", "--output", "json"],
    # verify's; none after helm alone, as the chart sets the replicas itself
    K + ["get", *KNS, "deployments,pods", "--output", "json"],
    # the plan's listing (which also asks the CLI about -y); verify's exec is spared, as the server runs
    # the image digest the target heads were probed in (test_verify_lists_the_heads_when_…)
    K + ["exec", *NS, "<server-pod>", "--container", "server", "--", "sh", "-c", "<listing-script>"],
    K + ["create", *KNS, *WRITE],  # the probe pod: validated
    K + ["create", *KNS, *OWN],
    K + ["create", *KNS, *OWN],  # lease, records
    K + ["get", *KNS, "pod", "<probe-pod>", *GET],
    K + ["logs", *KNS, "<probe-pod>", "--container", "probe"],
    K + ["delete", *KNS, "pod", "<probe-pod>", "--ignore-not-found", "--wait=false"],
    K + ["scale", *KNS, "deployment/customer-managed-server", "--replicas=0"],
    K + ["scale", *KNS, "deployment/customer-managed-ui", "--replicas=0"],
    K + ["create", *KNS, *OWN],  # the downgrade Job: created, as it was read absent
    K + ["get", *KNS, "pods", "--selector", f"job-name={JOB}", "--output", "json"],
    K + ["logs", *NS, POD, "--container", "nebula", "--follow"],  # streams: bounded by --timeout
    K + ["logs", *NS, POD, "--container", "orion", "--follow"],
    K + ["get", *KNS, "pod", POD, *GET],
    K + ["replace", *KNS, *OWN],  # the lease: "downgrade done" and "chart step started", before helm
    K + ["delete", *KNS, "lease", LEASE, "--ignore-not-found", "--wait=false"],
    # no list of leftover probe pods of ours: the plan's pod list showed none
]
STEP_ORDER = [  # each step's characteristic call, in the order the steps must run
    H + LIST,
    K + ["create", *KNS, *OWN],  # the lease (the probe pod's create came before, validated)
    K + ["scale", *KNS, "deployment/customer-managed-server", "--replicas=0"],
    K + ["get", *KNS, "pods", "--selector", f"job-name={JOB}"],  # the downgrade Job's pod, once created
    H + ["upgrade", "--install"],
    K + ["get", *KNS, "deployments,pods", "--output", "json"],
    K + ["delete", *KNS, "lease", LEASE],
]


def rollback(fake, *extra: str):
    return fake.cli("rollback", "--to", "1.2.0", "--yes", *extra)


def assert_clean_failure(result, code: int) -> None:
    assert result.exit_code == code, (result.exit_code, result.stderr, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output


def test_full_rollback_exact_argv(fake) -> None:
    result = rollback(fake)
    assert result.exit_code == 0, result.stderr
    got = [tuple(shape(a)) for a in fake.argvs()]
    assert Counter(got) == Counter(tuple(a) for a in EXPECTED)
    positions = [next(i for i, a in enumerate(got) if list(a[: len(want)]) == want) for want in STEP_ORDER]
    assert positions == sorted(positions), positions
    # the exec always runs the real listing script, never -i/-t
    execs = [c["argv"] for c in fake.calls("kubectl") if c["argv"][0] == "exec"]
    listings = [a for a in execs if migrations.HEADER in a[-1]]
    assert len(listings) == 1 and all(a[-1].startswith(migrations.listing_script()) for a in listings)
    assert [HELP in a[-1] for a in listings] == [True]  # one exec lists and asks about -y
    assert not any(flag in a for a in execs for flag in ("-i", "-t", "--stdin", "--tty"))
    # the world afterwards
    rel = fake.state["releases"]["customer-managed/customer-managed"]["history"][-1]
    assert (rel["revision"], rel["version"], rel["status"], rel["description"]) == (
        4,
        "1.2.0",
        "deployed",
        DESCRIPTION,
    )
    assert fake.obj("lease", LEASE) is None
    assert fake.obj("deployment", "customer-managed-server")["spec"]["replicas"] == 3
    assert fake.obj("deployment", "customer-managed-ui")["spec"]["replicas"] == 2
    records = fake.obj("configmap", RECORDS)["data"]
    assert json.loads(records["1.3.0"])["heads"] == {
        "nebula": "3fab1acc05c0",
        "orion": "2a2090e47993",
        "events": "3b5402bd348f",
    }
    assert json.loads(records["1.2.0"])["heads"] == {
        "nebula": "9c1e02b7d4aa",
        "orion": "5be81c0d2f34",
        "events": "3b5402bd348f",
    }
    assert "Rolled back customer-managed from 1.3.0 to 1.2.0" in result.stderr
    assert result.stdout == ""  # talk goes to stderr


def test_downgrade_job_as_applied(fake) -> None:
    assert rollback(fake).exit_code == 0
    job = fake.obj("job", JOB)
    assert job["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kubectl-prefect-rollback"
    assert not any(k.startswith("helm.sh/") for k in job["metadata"]["annotations"])
    assert job["spec"]["backoffLimit"] == 0
    spec = job["spec"]["template"]["spec"]
    assert spec["restartPolicy"] == "Never"
    cmds = {c["name"]: c["command"] for c in spec["containers"]}
    assert set(cmds) == {"nebula", "orion"}  # events has nothing to revert
    assert cmds["nebula"][:6] == ["prefect-cloud", "nebula", "database", "downgrade", "-r", "9c1e02b7d4aa"]
    assert cmds["orion"][:6] == ["prefect-cloud", "orion", "database", "downgrade", "-r", "5be81c0d2f34"]
    assert spec["containers"][0]["envFrom"] == [{"secretRef": {"name": "nebula-db"}}]  # kept untouched
    assert all(c["image"] == "registry.local/cloud/server:1.3.0" for c in spec["containers"])


SERVER_1_3 = "registry.local/cloud/server:1.3.0"


def _listings(fake) -> list[str]:
    return [
        c["argv"][-1]
        for c in fake.calls("kubectl")
        if c["argv"][0] == "exec" and migrations.HEADER in c["argv"][-1]
    ]


def _job_has_yes(fake) -> bool:
    containers = fake.obj("job", JOB)["spec"]["template"]["spec"]["containers"]
    return all("-y" in c["command"] for c in containers)


def _recorded_cli(fake, version: str = "1.3.0") -> dict | None:
    return json.loads(fake.obj("configmap", RECORDS)["data"][version]).get("cli")


def test_a_rollback_records_the_images_y_answer_beside_the_heads(fake) -> None:
    assert rollback(fake).exit_code == 0
    assert _recorded_cli(fake) == {"image": SERVER_1_3, "imageID": f"fake://{SERVER_1_3}", "yes": True}


def test_the_y_answer_recorded_for_this_image_spares_the_plan_asking_the_cli(fake) -> None:
    saved = fake.cli("revisions", "--save")  # while 1.3.0 runs, as after its upgrade
    assert saved.exit_code == 0 and "heads of 1.3.0 and its image's -y answer recorded" in saved.stderr
    assert [HELP in a for a in _listings(fake)] == [True]
    saved_entry = json.loads(fake.obj("configmap", RECORDS)["data"]["1.3.0"])
    assert saved_entry["files"] == f"fake://{SERVER_1_3}"  # what the heads were listed from
    fake.reset_calls()
    result = rollback(fake, "-v")
    assert result.exit_code == 0, result.stderr
    # the plan's listing; verify needs none: the server runs the image 1.2.0's heads were probed in
    assert [HELP in a for a in _listings(fake)] == [False]
    assert "answered True before (records configmap); not asked" in result.stderr
    assert _job_has_yes(fake)


def test_a_y_answer_recorded_for_another_digest_is_asked_again_and_replaced(fake) -> None:
    assert fake.cli("revisions", "--save").exit_code == 0
    with fake.edit() as st:  # the tag 1.3.0 was pushed again since: another digest
        cm = st["objects"][f"customer-managed/configmap/{RECORDS}"]
        entry = json.loads(cm["data"]["1.3.0"])
        entry["cli"] = {
            **entry["cli"],
            "imageID": "fake://registry.local/cloud/server@sha256:0ld",
            "yes": False,
        }
        cm["data"]["1.3.0"] = json.dumps(entry)
    fake.reset_calls()
    assert rollback(fake).exit_code == 0
    assert [HELP in a for a in _listings(fake)] == [True]
    assert _job_has_yes(fake)  # what the image says now, not what was recorded for the other one
    assert _recorded_cli(fake) == {"image": SERVER_1_3, "imageID": f"fake://{SERVER_1_3}", "yes": True}


def test_the_values_of_the_revision_before_are_read_while_the_history_is(fake) -> None:
    """Most rollbacks go back one revision: its values need not wait for `helm history`."""
    fake.hold("helm", r"^history ", 5, released=True)
    t0 = time.monotonic()
    seen, done = _when_called(
        fake, lambda c: c["argv"][:2] == ["get", "values"], lambda: time.monotonic() - t0, prog="helm"
    )
    result = rollback(fake)
    done()
    assert result.exit_code == 0, result.stderr
    assert seen and seen[0] < 4, seen  # called while the history was held
    reads = [c["argv"] for c in fake.calls("helm") if c["argv"][:2] == ["get", "values"]]
    assert [a[a.index("--revision") + 1] for a in reads] == ["2"]  # read once: the one the upgrade needs


def test_values_of_an_older_revision_that_ran_the_target_are_read_after_the_history(fake) -> None:
    with fake.edit() as st:  # 1.2.0 ran at revision 1; revision 2 ran something else
        hist = st["releases"]["customer-managed/customer-managed"]["history"]
        hist[0].update(version="1.2.0", values={"postgres": {"password": "rev1-password"}})
        hist[1].update(version="1.1.5")
    result = rollback(fake)
    assert result.exit_code == 0, result.stderr
    assert "values    from revision 1, the last that ran 1.2.0" in result.stderr
    reads = [c["argv"] for c in fake.calls("helm") if c["argv"][:2] == ["get", "values"]]
    assert [a[a.index("--revision") + 1] for a in reads] == ["2", "1"]  # the guess, then the right one
    last = fake.state["releases"]["customer-managed/customer-managed"]["history"][-1]
    assert last["values"] == {"postgres": {"password": "rev1-password"}}


def test_a_revision_before_that_helm_no_longer_holds_is_no_error(fake) -> None:
    with fake.edit() as st:  # --history-max pruned revision 2: the target ran at revision 1
        hist = st["releases"]["customer-managed/customer-managed"]["history"]
        hist[0].update(version="1.2.0")
        del hist[1]
    result = rollback(fake)
    assert result.exit_code == 0, result.stderr
    assert "values    from revision 1, the last that ran 1.2.0" in result.stderr


def test_values_only_on_stdin(fake) -> None:
    with fake.edit() as st:
        st["record_stdin"] = True
    result = rollback(fake, "-v")
    assert result.exit_code == 0, result.stderr
    upgrade = next(c for c in fake.calls("helm") if c["argv"][0] == "upgrade")
    assert upgrade["stdin"] and SECRET in upgrade["stdin_text"]
    assert ["-f", "-"] == upgrade["argv"][upgrade["argv"].index("-f") : upgrade["argv"].index("-f") + 2]
    for call in fake.calls():
        assert not any(SECRET in a for a in call["argv"])
    assert SECRET not in result.output
    assert "< (stdin, not shown)" in result.stderr  # -v echoes the upgrade, not its values
    assert fake.state["releases"]["customer-managed/customer-managed"]["history"][-1]["values"][
        "postgres"
    ] == {"password": SECRET}


def test_description_and_no_wait(fake) -> None:
    assert rollback(fake, "--no-wait", "--helm-timeout", "3m").exit_code == 0
    argv = next(c["argv"] for c in fake.calls("helm") if c["argv"][0] == "upgrade")
    assert argv[argv.index("--description") + 1] == DESCRIPTION
    assert "--wait" not in argv and "--timeout" not in argv


def test_target_values_file_goes_by_path(fake, tmp_path) -> None:
    values = tmp_path / "mine.yaml"
    values.write_text("postgres: {password: from-file}\n")
    assert rollback(fake, "--target-values", str(values)).exit_code == 0
    upgrade = next(c for c in fake.calls("helm") if c["argv"][0] == "upgrade")
    assert ["-f", str(values)] == upgrade["argv"][
        upgrade["argv"].index("-f") : upgrade["argv"].index("-f") + 2
    ]
    assert not upgrade["stdin"]


def test_report_file(fake, tmp_path) -> None:
    report = tmp_path / "report.json"
    assert rollback(fake, "--report", str(report)).exit_code == 0
    doc = json.loads(report.read_text())
    assert doc["kind"] == "RollbackReport" and doc["outcome"] == "succeeded"
    assert [s["step"] if "step" in s else s["name"] for s in doc["steps"]] == [
        "lock",
        "scale-down",
        "record",
        "downgrade",
        "chart",
        "verify",
        "unlock",
    ]
    assert all(s["status"] == "done" for s in doc["steps"])
    assert doc["from"]["version"] == "1.3.0" and doc["to"]["heads"]["orion"] == "5be81c0d2f34"


def test_report_written_when_kubectl_fails(fake, tmp_path) -> None:
    report = tmp_path / "report.json"
    fake.fail("kubectl", r"^scale ", stderr="Error from server (Forbidden): cannot scale")
    result = rollback(fake, "--report", str(report))
    assert_clean_failure(result, 1)
    assert "kubectl scale" in result.stderr and "Forbidden" in result.stderr
    doc = json.loads(report.read_text())
    assert doc["outcome"] == "failed"
    assert doc["steps"][-1]["name"] == "scale-down" and doc["steps"][-1]["status"] == "failed"


# --- resume after a failure at each step --------------------------------------------------------------


def finish(fake, *extra: str):
    fake.clear_failures()
    fake.reset_calls()
    result = rollback(fake, *extra)
    assert result.exit_code == 0, result.stderr
    assert fake.obj("lease", LEASE) is None
    assert fake.obj("deployment", "customer-managed-server")["spec"]["replicas"] == 3
    assert fake.obj("deployment", "customer-managed-ui")["spec"]["replicas"] == 2
    hist = fake.state["releases"]["customer-managed/customer-managed"]["history"]
    assert [h["version"] for h in hist if h["status"] == "deployed"] == ["1.2.0"]
    assert len([h for h in hist if h["version"] == "1.2.0" and h["revision"] > 3]) == 1  # upgraded once
    return result


def upgrades(fake) -> int:
    return sum(1 for c in fake.calls("helm") if c["argv"][0] == "upgrade")


@pytest.mark.parametrize(
    ("match", "skipped"),
    [
        (r"^create (?!.*--dry-run).*--filename", []),  # the probe pod is the 1st create, the lease the 2nd
        (r"^scale .*customer-managed-ui", ["heads already recorded"]),  # recorded beside the scale-down
    ],
    ids=["lock", "scale-down"],
)
def test_resume_after_kubectl_failure(fake, match: str, skipped: list[str], request) -> None:
    nth = {"lock": 2}.get(request.node.callspec.id, 1)
    fake.fail("kubectl", match, stderr="Unable to connect to the server: EOF", nth=nth)
    result = rollback(fake)
    assert_clean_failure(result, 1)
    assert "Unable to connect to the server: EOF" in result.stderr
    result = finish(fake)
    for text in skipped:
        assert f"skipping: {text}" in result.stderr


def test_a_failed_record_write_warns_and_the_rollback_still_finishes(fake, tmp_path) -> None:
    """The heads are a cache for later plans (the lease holds them for a resume), written while the
    servers go down: failing then would only lengthen the outage, so it is said, never silent."""
    fake.fail("kubectl", r"^create ", kind="ConfigMap", stderr="Unable to connect to the server: EOF")
    report = tmp_path / "report.json"
    result = rollback(fake, "--report", str(report))
    assert result.exit_code == 0, result.stderr
    assert (
        f"recording the heads in configmap {RECORDS} failed: `kubectl create --namespace customer-managed "
        "--request-timeout 30s --validate=false --filename - --output json` exited 1: Unable to connect"
        in result.stderr
    )
    assert fake.obj("configmap", RECORDS) is None
    step = next(s for s in json.loads(report.read_text())["steps"] if s["name"] == "record")
    assert step["status"] == "skipped" and step["detail"].startswith(
        f"recording the heads in configmap {RECORDS} failed"
    )


def test_a_run_stopped_after_a_failed_record_write_records_on_its_resume(fake) -> None:
    fake.fail("kubectl", r"^create ", kind="ConfigMap", stderr="Unable to connect to the server: EOF")
    fake.fail("helm", r"^upgrade ", stderr="Error: UPGRADE FAILED: timed out waiting for the condition")
    assert_clean_failure(rollback(fake), 5)
    assert fake.obj("configmap", RECORDS) is None
    result = finish(fake)
    assert f"heads recorded in configmap {RECORDS}" in result.stderr
    assert json.loads(fake.obj("configmap", RECORDS)["data"]["1.3.0"])["heads"]["nebula"] == "3fab1acc05c0"


def test_the_record_step_writes_from_the_plans_read_and_a_change_since_is_kept(fake, monkeypatch) -> None:
    """No read of its own: the plan's copy, guarded by its resourceVersion. A key written in between
    (a backup's) makes that write conflict; it is done again from a fresh read and keeps that key."""
    from kubectl_prefect_rollback import preflight

    checked = preflight.check_plan

    def then_a_backup_is_recorded(*args, **kwargs):
        plan = checked(*args, **kwargs)
        _put_records(fake, {"latest-backup": "{}"}, labels={})
        return plan

    monkeypatch.setattr(preflight, "check_plan", then_a_backup_is_recorded)
    result = rollback(fake)
    assert result.exit_code == 0, result.stderr
    data = fake.obj("configmap", RECORDS)["data"]
    assert set(data) == {"latest-backup", "1.3.0", "1.2.0"}
    reads = [
        c["argv"]
        for c in fake.calls("kubectl")
        if c["argv"][0] == "get" and ("configmaps" in c["argv"] or any(RECORDS in a for a in c["argv"]))
    ]
    # the plan's (ours, by label), and the one by name after the conflict
    assert len(reads) == 2 and "--selector" in reads[0] and RECORDS in reads[1], reads
    # written unlabelled in between: our labels are put back, so the next plan lists it
    labels = fake.obj("configmap", RECORDS)["metadata"]["labels"]
    assert labels["app.kubernetes.io/managed-by"] == "kubectl-prefect-rollback"


def _when_called(fake, called, look, prog: str = "kubectl"):
    """Runs `look()` from a thread the moment a `prog` call for which `called(call)` holds is logged
    (a fake logs its call as it starts), then releases the test's holds; returns its answers and a
    function that stops watching."""
    import threading

    seen: list = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set() and not seen:
            if any(called(c) for c in fake.calls(prog)):
                seen.append(look())
                fake.release()
            time.sleep(0.01)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return seen, lambda: (stop.set(), thread.join())


def test_the_leftover_pods_are_listed_while_the_lease_is_written(fake) -> None:
    # one the plan saw (a concurrent plan's probe, running): they are listed again at the lock
    _probe_pod(fake, "customer-managed-probe-1-2-0-busy33", phase="Running", age=5)
    # the lease (the probe pod's is the 1st real create)
    fake.hold("kubectl", r"^create (?!.*--dry-run)", 30, nth=2, released=True)
    seen, done = _when_called(
        fake,
        lambda c: c["argv"][0] == "get" and LEFTOVERS in c["argv"] and "pods" in c["argv"],
        lambda: fake.obj("lease", LEASE),
    )
    result = rollback(fake)
    done()
    assert result.exit_code == 0, result.stderr
    assert seen == [None]  # listed while the held lease write had not happened yet


def test_a_failed_read_of_the_jobs_beside_the_lease_write_stops_before_the_scale_down(fake) -> None:
    fake.fail("kubectl", r"^get .* jobs ", stderr="Unable to connect to the server: EOF")
    result = rollback(fake)
    assert_clean_failure(result, 1)
    assert "Unable to connect to the server: EOF" in result.stderr
    assert not any(c["argv"][0] == "scale" for c in fake.calls("kubectl"))  # nothing changed
    assert fake.obj("lease", LEASE)["spec"]["holderIdentity"] == ""  # free for the re-run
    assert finish(fake).exit_code == 0


def test_the_records_are_written_while_the_servers_scale_down(fake) -> None:
    fake.hold("kubectl", r"^scale .*customer-managed-server.*--replicas=0", 30, released=True)
    seen, done = _when_called(
        fake,
        lambda c: c.get("stdin_kind") == "ConfigMap",
        lambda: fake.obj("deployment", "customer-managed-server")["spec"]["replicas"],
    )
    result = rollback(fake)
    done()
    assert result.exit_code == 0, result.stderr
    assert seen == [3]  # written while the held scale-down had not happened yet


def _chart_record(fake) -> dict | None:
    lease = fake.obj("lease", LEASE) or {}
    text = ((lease.get("metadata") or {}).get("annotations") or {}).get("prefect-rollback/chart")
    return json.loads(text) if text else None


def _upgrade_started(call) -> bool:
    return call["argv"][:1] == ["upgrade"]


def test_helm_starts_beside_the_chart_records_write_when_the_lock_wrote_one_ahead(fake) -> None:
    fake.hold("kubectl", r"^replace ", 30, released=True)  # the lease's exact chart record
    seen, done = _when_called(fake, _upgrade_started, lambda: _chart_record(fake), prog="helm")
    result = rollback(fake)
    done()
    assert result.exit_code == 0, result.stderr
    assert len(seen) == 1 and seen[0] is not None, seen  # helm started while the held write had not landed
    assert seen[0]["planned"] is True and seen[0]["version"] == "1.2.0" and seen[0]["after-revision"] == 3
    assert sum(a[:2] == ["kubectl", "replace"] for a in fake.argvs()) == 1  # the exact record, beside helm


def test_a_record_written_ahead_that_no_longer_covers_helm_is_replaced_before_helm_starts(
    fake, monkeypatch
) -> None:
    from kubectl_prefect_rollback import chart_step

    # the run reached helm later than the lock's record allowed for: helm may not outlive what it says
    monkeypatch.setattr(chart_step, "AHEAD", -4000.0)
    fake.hold("kubectl", r"^replace ", 0.3)  # helm started beside it would find the record written ahead
    # helm waits for the look (a busy machine may run the watcher late): the look sees helm's start
    fake.hold("helm", r"^upgrade ", 30, released=True)
    seen, done = _when_called(fake, _upgrade_started, lambda: _chart_record(fake), prog="helm")
    result = rollback(fake)
    done()
    assert result.exit_code == 0, result.stderr
    assert len(seen) == 1 and seen[0] is not None and "planned" not in seen[0], seen  # the exact one, first
    assert seen[0]["after-revision"] == 3 and seen[0]["version"] == "1.2.0"


def deployment_reads(fake) -> int:
    """Reads of the Deployments alone after helm upgrade: the chart step's (verify's come with pods)."""
    calls = fake.calls()
    upgrade = next(i for i, c in enumerate(calls) if c["prog"] == "helm" and c["argv"][0] == "upgrade")
    return sum(
        1
        for c in calls[upgrade:]
        if c["prog"] == "kubectl" and c["argv"][0] == "get" and "deployments" in c["argv"]
    )


def chart_without_replicas(fake, version: str = "1.2.0") -> None:
    """The target chart leaves replicas out (an HPA's chart, say): helm keeps our zero."""
    with fake.edit() as st:
        texts = st["charts"][version]
        texts["manifest"] = "".join(ln for ln in texts["manifest"].splitlines(True) if "replicas:" not in ln)


def test_a_chart_without_replicas_gets_the_operators_counts_back_after_helm(fake) -> None:
    chart_without_replicas(fake)
    result = rollback(fake)
    assert result.exit_code == 0, result.stderr
    scales = [c["argv"][-1] for c in fake.calls("kubectl") if c["argv"][0] == "scale"]
    assert scales == ["--replicas=0", "--replicas=0", "--replicas=3", "--replicas=2"]
    assert fake.obj("deployment", "customer-managed-server")["spec"]["replicas"] == 3
    assert fake.obj("deployment", "customer-managed-ui")["spec"]["replicas"] == 2
    assert deployment_reads(fake) == 1  # after helm


def test_a_chart_that_sets_replicas_is_left_to_helm_no_read_after_the_upgrade(fake) -> None:
    result = rollback(fake)
    assert result.exit_code == 0, result.stderr
    scales = [c["argv"][-1] for c in fake.calls("kubectl") if c["argv"][0] == "scale"]
    assert scales == ["--replicas=0", "--replicas=0"]  # helm set 3 and 2 itself, from the chart
    assert deployment_reads(fake) == 0  # none after helm
    assert fake.obj("deployment", "customer-managed-server")["spec"]["replicas"] == 3
    assert fake.obj("deployment", "customer-managed-ui")["spec"]["replicas"] == 2


def test_resume_keeps_saved_replicas_after_partial_scale_down(fake) -> None:
    chart_without_replicas(fake)  # so the saved counts, not the chart, bring them back
    fake.fail("kubectl", r"^scale .*customer-managed-ui", stderr="Unable to connect to the server: EOF")
    assert rollback(fake).exit_code == 1
    assert fake.obj("deployment", "customer-managed-server")["spec"]["replicas"] == 0
    lease = fake.obj("lease", LEASE)
    assert lease["spec"]["holderIdentity"] == ""  # released for a resume, not deleted
    assert json.loads(lease["metadata"]["annotations"]["prefect-rollback/replicas"]) == {
        "customer-managed-server": 3,
        "customer-managed-ui": 2,
    }
    result = finish(fake)
    assert "resuming an unfinished run" in result.stderr
    scales = [c["argv"][-1] for c in fake.calls("kubectl") if c["argv"][0] == "scale"]
    assert scales == ["--replicas=0", "--replicas=3", "--replicas=2"]  # only ui went down, both came back


def test_downgrade_failure_exit_4_then_retry(fake) -> None:
    with fake.edit() as st:
        st["job"]["exit_codes"] = {"orion": 1}
        st["job"]["logs"] = {"orion": ["sqlalchemy.exc.OperationalError: could not connect to server"]}
    result = rollback(fake)
    assert_clean_failure(result, 4)
    assert "orion exit 1" in result.stderr and "nebula exit 0" in result.stderr
    assert "[orion] sqlalchemy.exc.OperationalError" in result.stderr
    assert "chart was NOT changed" in result.stderr
    assert upgrades(fake) == 0
    # the same command again refuses to re-run a failed Job without --retry
    with fake.edit() as st:
        st["job"]["exit_codes"] = {}
    fake.reset_calls()
    again = rollback(fake)
    assert_clean_failure(again, 4)
    assert "--retry" in again.stderr
    assert fake.jobs_created() == 0
    result = finish(fake, "--retry")
    deletes = [c["argv"] for c in fake.calls("kubectl") if c["argv"][0] == "delete"]
    assert deletes[0][5:7] == ["job", JOB]
    assert "skipping: deployments already scaled down" in result.stderr


def test_helm_upgrade_failure_exit_5_then_resume_skips_downgrade(fake) -> None:
    fake.fail("helm", r"^upgrade ", stderr="Error: UPGRADE FAILED: timed out waiting for the condition")
    result = rollback(fake)
    assert_clean_failure(result, 5)
    assert "UPGRADE FAILED: timed out waiting for the condition" in result.stderr
    result = finish(fake)
    assert "skipping: downgrade already finished" in result.stderr
    assert "skipping: deployments already scaled down" in result.stderr
    assert fake.jobs_created() == 0
    assert upgrades(fake) == 1


def test_verify_failure_exit_6_then_resume(fake) -> None:
    with fake.edit() as st:  # the probe saw another digest of 1.2.0's tag: verify lists the server's heads
        st["probe_image_id"] = "fake://registry.local/cloud/server@sha256:0ther"
    # the second exec (verify, in a 1.2.0 server) reports the 1.3.0 heads: the downgrade did not stick
    stale = listing_path("1.3.0").read_text()
    fake.fail("kubectl", r"^exec .*customer-managed-server-.*rollback-listing", nth=2, code=0, stdout=stale)
    result = rollback(fake)
    assert_clean_failure(result, 6)
    assert "nebula 3fab1acc05c0 (want 9c1e02b7d4aa)" in result.stderr
    result = finish(fake)
    assert "skipping: release already deployed at prefect-cloud 1.2.0" in result.stderr
    assert upgrades(fake) == 0
    assert not any(c["argv"][0] == "scale" and c["argv"][-1] == "--replicas=0" for c in fake.calls("kubectl"))


def test_verify_lists_the_heads_when_the_server_runs_another_digest_than_the_probe(fake) -> None:
    with fake.edit() as st:
        st["probe_image_id"] = "fake://registry.local/cloud/server@sha256:0ther"
    result = rollback(fake)
    assert result.exit_code == 0, result.stderr
    assert len(_listings(fake)) == 2  # the plan's, and verify's in the new server
    assert "ready, heads match" in result.stderr
    assert "(the image digest the target heads were listed in)" not in result.stderr


def test_verify_spares_the_listing_when_the_server_runs_the_probed_image(fake) -> None:
    result = rollback(fake)
    assert result.exit_code == 0, result.stderr
    assert len(_listings(fake)) == 1  # the plan's only
    assert "heads match (the image digest the target heads were listed in)" in result.stderr


def test_verify_lists_the_heads_when_a_volume_is_mounted_over_the_migrations(fake) -> None:
    with fake.edit() as st:  # the servers mount something over the code: their files may differ
        deploy = st["objects"]["customer-managed/deployment/customer-managed-server"]
        mount = {"name": "patch", "mountPath": "/prefect_cloud/src/prefect_cloud/nebula"}
        deploy["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = [mount]
    result = rollback(fake)
    assert result.exit_code == 0, result.stderr
    assert len(_listings(fake)) == 2


def _record_target(fake, files: str | None) -> None:
    """1.2.0's heads in the records ConfigMap (labelled ours: plans list it so), as a rollback's probe
    or `revisions --save` leaves them: listed from `files` (None: recorded by an older plugin)."""
    heads = {"nebula": "9c1e02b7d4aa", "orion": "5be81c0d2f34", "events": "3b5402bd348f"}
    entry = {"heads": heads, "source": "a probe pod", **({"files": files} if files else {})}
    _put_records(fake, {"1.2.0": json.dumps(entry)})


def _put_records(fake, data: dict[str, str], labels: dict[str, str] | None = None) -> None:
    """The records ConfigMap as another run wrote it (labelled ours unless `labels` says otherwise)."""
    with fake.edit() as st:
        st["rv"] += 1
        st["objects"][f"customer-managed/configmap/{RECORDS}"] = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": RECORDS,
                "namespace": "customer-managed",
                "resourceVersion": str(st["rv"]),
                "labels": {"app.kubernetes.io/managed-by": "kubectl-prefect-rollback"}
                if labels is None
                else labels,
            },
            "data": data,
        }


def test_a_rollback_records_the_files_its_probe_listed_the_target_heads_from(fake) -> None:
    assert rollback(fake).exit_code == 0
    entry = json.loads(fake.obj("configmap", RECORDS)["data"]["1.2.0"])
    assert entry["files"] == "fake://registry.local/cloud/server:1.2.0"  # the probe pod's image digest


@pytest.mark.parametrize(
    ("files", "listings"),
    [
        ("fake://registry.local/cloud/server:1.2.0", 1),  # the plan's only
        ("fake://registry.local/cloud/server@sha256:0ld", 2),  # the tag was pushed again since
        (None, 2),  # recorded by an older plugin: not known
    ],
    ids=["same-digest", "other-digest", "unknown"],
)
def test_recorded_target_heads_spare_verify_the_listing_only_for_the_files_they_were_listed_from(
    fake, files: str | None, listings: int
) -> None:
    _record_target(fake, files)
    result = rollback(fake)
    assert result.exit_code == 0, result.stderr
    assert f"target from configmap {RECORDS}" in result.stderr
    assert not any(c.get("stdin_kind") == "Pod" for c in fake.calls("kubectl"))  # no probe pod
    assert len(_listings(fake)) == listings
    spared = "heads match (the image digest the target heads were listed in)" in result.stderr
    assert spared == (listings == 1)


def test_resume_after_scale_down_needs_no_server(fake) -> None:
    """A resumed run reads its facts from the lease: no server pod runs any more, and no probe is needed."""
    fake.fail(
        "kubectl",
        r"^create (?!.*--dry-run)",
        kind="Job",
        stderr="Error from server (InternalError): etcdserver: request timed out",
    )
    assert rollback(fake).exit_code == 1
    assert not [p for p in fake.objects("pod") if p.startswith("customer-managed-server")]
    fake.clear_failures()
    fake.reset_calls()
    finish(fake)
    assert not any(
        c["argv"][0] == "exec" and "customer-managed-server" not in c["argv"][3]
        for c in fake.calls("kubectl")
    )
    assert not any(c.get("stdin_kind") == "Pod" for c in fake.calls("kubectl"))  # no probe pod


@pytest.mark.parametrize(("method", "forced"), [("ssa", True), ("csa", False)])
def test_helm4_server_side_release_forces_the_replicas_back(fake, method: str, forced: bool) -> None:
    """Our scale-down owns .spec.replicas; a server-side helm 4 upgrade conflicts unless forced, and
    helm 4 rejects --force-conflicts for a release it applies client-side."""
    with fake.edit() as st:
        st["helm_version"] = "v4.1.4"
        for rel in st["releases"].values():
            rel["apply_method"] = method
    result = rollback(fake)
    assert result.exit_code == 0, result.stderr
    upgrade = next(c["argv"] for c in fake.calls("helm") if c["argv"][0] == "upgrade")
    assert ("--force-conflicts" in upgrade) is forced
    assert any(c["argv"][:2] == ["get", "metadata"] for c in fake.calls("helm"))
    assert not any(c["argv"][0] == "version" for c in fake.calls("helm"))  # metadata alone answered


@pytest.mark.parametrize(("version", "forced"), [("v3.10.1", False), ("v4.1.4", None)])
def test_a_failed_get_metadata_is_settled_by_helm_version(fake, version: str, forced: bool | None) -> None:
    """helm 3.10 has no `get metadata`: its error means "no server-side apply", told by `helm version`;
    on helm 4 the same error is real and stops the plan."""
    with fake.edit() as st:
        st["helm_version"] = version
    if forced is None:
        fake.fail("helm", "get metadata", stderr="Error: Kubernetes cluster unreachable\n")
    result = rollback(fake)
    assert any(c["argv"][0] == "version" for c in fake.calls("helm"))
    if forced is None:
        assert_clean_failure(result, 1)
        assert "cluster unreachable" in result.stderr
        assert not fake.mutations()
        return
    assert result.exit_code == 0, result.stderr
    upgrade = next(c["argv"] for c in fake.calls("helm") if c["argv"][0] == "upgrade")
    assert "--force-conflicts" not in upgrade


@pytest.mark.parametrize(("typed", "code"), [("customer-managed\n", 0), ("customer\n", 3), ("\n", 3)])
def test_terminal_confirmation_by_typing_the_release_name(fake, monkeypatch, typed: str, code: int) -> None:
    from kubectl_prefect_rollback.commands import common

    monkeypatch.setattr(common, "stdin_is_terminal", lambda: True)
    result = fake.cli("rollback", "--to", "1.2.0", input=typed)
    assert result.exit_code == code, result.stderr
    assert "Make sure nebula, orion and events are backed up" in result.stderr
    changed = bool(fake.mutations())
    assert changed is (code == 0)
    if code:
        assert "confirmation did not match 'customer-managed': nothing was changed" in result.stderr


# --- bounds, reports, verify, probe pods ------------------------------------------------------------


def test_hung_kubectl_read_becomes_exit_1_naming_command_and_timeout(fake, monkeypatch) -> None:
    from kubectl_prefect_rollback import proc

    monkeypatch.setattr(proc, "GRACE", 0.2)
    fake.hold("kubectl", r"^get .* deployments,pods", 30)
    result = rollback(fake, "--request-timeout", "300ms")
    assert_clean_failure(result, 6)  # it hung while verifying: a verify failure
    assert (
        "kubectl get --namespace customer-managed --request-timeout 300ms deployments,pods" in result.stderr
    )
    assert "did not finish within 0.5s (--request-timeout 0.3s)" in result.stderr
    resume = (
        "Resume: kubectl-prefect_rollback rollback --to 1.2.0 --yes --request-timeout 300ms"
        " -n customer-managed"
    )
    assert resume in result.stderr


def test_hung_helm_upgrade_is_told_to_stop_and_exit_1_names_the_timeout(fake, monkeypatch) -> None:
    from kubectl_prefect_rollback import children, helm

    monkeypatch.setattr(helm, "UPGRADE_GRACE", 0.3)
    monkeypatch.setattr(children, "HELM_STOP_GRACE", 5.0)
    with fake.edit() as st:
        st["upgrade_hold"] = 60
    result = rollback(fake, "--helm-timeout", "300ms")
    assert_clean_failure(result, 1)
    assert "did not finish within 0.6s (--helm-timeout 300ms + 0.3s); stopped it" in result.stderr
    assert fake.state["helm_signals"] == [15]  # SIGTERM first: helm records the release as failed
    assert fake.state["releases"]["customer-managed/customer-managed"]["history"][-1]["status"] == "failed"
    assert "steps done: lock, scale-down, record, downgrade; stopped in: chart" in result.stderr


def test_hung_exec_is_bounded_by_probe_timeout(fake) -> None:
    fake.hold("kubectl", r"^exec ", 30)
    result = fake.cli("plan", "--to", "1.2.0", "--probe-timeout", "300ms")
    assert_clean_failure(result, 1)
    assert (
        "kubectl exec" in result.stderr
        and "did not finish within 0.3s (--probe-timeout 300ms)" in result.stderr
    )


def test_hung_verify_exec_is_bounded_by_verify_timeout(fake) -> None:
    with fake.edit() as st:  # another digest than the probe's: verify lists the server's heads
        st["probe_image_id"] = "fake://registry.local/cloud/server@sha256:0ther"
    fake.hold("kubectl", r"^exec ", 30, nth=2)
    # what is left of --verify-timeout after the ready wait, but at least one --request-timeout
    result = rollback(fake, "--verify-timeout", "1s", "--request-timeout", "1s")
    assert_clean_failure(result, 6)
    assert "kubectl exec" in result.stderr and "--verify-timeout 1s" in result.stderr, result.stderr


def test_report_file_is_0600_even_over_an_older_file(fake, tmp_path) -> None:
    report = tmp_path / "report.json"
    report.write_text("{}")
    report.chmod(0o644)
    assert rollback(fake, "--report", str(report)).exit_code == 0
    assert report.stat().st_mode & 0o777 == 0o600
    assert json.loads(report.read_text())["outcome"] == "succeeded"


@pytest.mark.parametrize(("fail_helm", "code"), [(False, 0), (True, 5)])
def test_unwritable_report_warns_and_keeps_the_rollbacks_exit_code(fake, tmp_path, fail_helm, code) -> None:
    if fail_helm:
        fake.fail("helm", r"^upgrade ", stderr="Error: UPGRADE FAILED: boom")
    path = tmp_path / "no-such-dir" / "report.json"
    result = rollback(fake, "--report", str(path))
    assert result.exit_code == code, result.stderr
    assert f"could not write report {path}: No such file or directory" in result.stderr


def test_kubectl_failure_while_verifying_exits_6(fake) -> None:
    fake.fail("kubectl", r"^get .* deployments,pods", stderr="Unable to connect to the server: EOF", times=99)
    result = rollback(fake)
    assert_clean_failure(result, 6)
    assert "verify: `kubectl get" in result.stderr and "Unable to connect" in result.stderr


def test_failure_after_first_change_tells_state_and_resume(fake) -> None:
    fake.fail("kubectl", r"^scale .*customer-managed-ui.*--replicas=0", stderr="Error from server: boom")
    result = rollback(fake)
    assert_clean_failure(result, 1)
    err = result.stderr
    # the record write beside the failed scale-down ended: it counts as done
    assert "steps done: lock, record; stopped in: scale-down; not started: downgrade, chart, verify" in err
    assert "servers: customer-managed-server 0 replicas" in err and "customer-managed-ui 2 replicas" in err
    assert f"databases: not downgraded yet (job/{JOB} not created)" in err
    assert "release: customer-managed prefect-cloud 1.3.0, revision 3, deployed" in err
    assert "lock: lease customer-managed-prefect-rollback released: a re-run takes it over at once" in err
    assert err.rstrip().endswith(
        "Resume: kubectl-prefect_rollback rollback --to 1.2.0 --yes -n customer-managed"
    )


def _probe_pod(
    fake, name: str, *, phase: str, age: int, role: str = "probe", deadline: int | None = None
) -> None:
    with fake.edit() as st:
        st["objects"][f"customer-managed/pod/{name}"] = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": "customer-managed",
                "creationTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - age)),
                "labels": {
                    "app.kubernetes.io/managed-by": "kubectl-prefect-rollback",
                    "prefect-rollback/role": role,
                },
            },
            "spec": {
                "containers": [{"name": "probe", "image": "registry.local/cloud/server:1.2.0"}],
                **({"activeDeadlineSeconds": deadline} if deadline else {}),
            },
            "status": {"phase": phase},
        }


def test_leftover_probe_pods_are_deleted_by_the_next_run_but_a_live_one_stays(fake) -> None:
    _probe_pod(fake, "customer-managed-probe-1-2-0-done00", phase="Failed", age=3)  # a SIGKILLed run's
    _probe_pod(fake, "customer-managed-probe-1-2-0-old111", phase="Succeeded", age=600)
    _probe_pod(fake, "customer-managed-probe-1-2-0-lost22", phase="Running", age=3600)
    _probe_pod(fake, "customer-managed-probe-1-2-0-busy33", phase="Running", age=5)  # a concurrent plan's
    result = rollback(fake)
    assert result.exit_code == 0, result.stderr
    gone = (
        "customer-managed-probe-1-2-0-done00, customer-managed-probe-1-2-0-lost22, "
        "customer-managed-probe-1-2-0-old111"
    )
    assert f"deleted leftover probe pod(s) {gone}" in result.stderr
    assert [n for n in fake.objects("pod") if "-probe-" in n] == ["customer-managed-probe-1-2-0-busy33"]


def test_the_lock_step_lists_our_pods_only_if_the_plans_pod_list_showed_one_or_was_filtered(fake) -> None:
    """A leftover was made before the plan listed the namespace's pods (by a run that has ended since):
    when the plan saw none there is nothing to list again. With --selector the plan's list shows only
    the server pods, so the lock step lists ours as before."""
    leftovers = [K + ["get", *KNS, "pods", "--selector", LEFTOVERS, "--output", "json"]]
    assert rollback(fake).exit_code == 0
    assert [a for a in fake.argvs() if LEFTOVERS in a and "pods" in a] == []  # ("configmaps": the plan's)
    _probe_pod(fake, "customer-managed-probe-1-2-0-done00", phase="Failed", age=3)
    fake.reset_calls()
    result = rollback(fake, "--force")  # at 1.2.0 already: --force rolls back "again"
    assert [a for a in fake.argvs() if LEFTOVERS in a and "pods" in a] == leftovers, result.stderr
    assert "deleted leftover probe pod(s) customer-managed-probe-1-2-0-done00" in result.stderr


def test_with_a_selector_the_lock_step_lists_our_pods_itself(fake) -> None:
    result = rollback(fake, "--selector", "fake/deployment=customer-managed-server")
    assert result.exit_code == 0, result.stderr
    assert K + [
        "get",
        *KNS,
        "pods",
        "--selector",
        "fake/deployment=customer-managed-server",
        "--output",
        "json",
    ] in (fake.argvs())
    assert [a for a in fake.argvs() if LEFTOVERS in a and "pods" in a] == [
        K + ["get", *KNS, "pods", "--selector", LEFTOVERS, "--output", "json"]
    ]


def test_leftover_backup_pods_are_deleted_like_probes_but_a_running_dump_in_its_deadline_stays(fake) -> None:
    _probe_pod(fake, "customer-managed-backup-orion-aaa111", phase="Failed", age=2, role="backup")
    _probe_pod(
        fake, "customer-managed-backup-orion-bbb222", phase="Running", age=900, role="backup", deadline=3660
    )
    _probe_pod(
        fake, "customer-managed-backup-orion-ccc333", phase="Running", age=4000, role="backup", deadline=3660
    )
    _probe_pod(fake, "someone-elses-pod", phase="Succeeded", age=9000, role="worker")
    result = rollback(fake)
    assert result.exit_code == 0, result.stderr
    assert (
        "deleted leftover probe pod(s) customer-managed-backup-orion-aaa111, "
        "customer-managed-backup-orion-ccc333" in result.stderr
    )
    assert sorted(n for n in fake.objects("pod") if "backup" in n or "someone" in n) == [
        "customer-managed-backup-orion-bbb222",
        "someone-elses-pod",
    ]


def test_probe_pod_whose_delete_failed_is_named_then_cleaned_by_the_next_run(fake, monkeypatch) -> None:
    from kubectl_prefect_rollback import probe

    monkeypatch.setattr(probe, "DELETE_RETRY_PAUSE", 0.01)
    fake.fail("kubectl", r"^delete .* pod customer-managed-probe-", stderr="Unable to connect", times=2)
    result = fake.cli("plan", "--to", "1.2.0")
    assert result.exit_code == 0, result.stderr
    left = [n for n in fake.objects("pod") if "-probe-" in n]
    assert (
        len(left) == 1
        and f"could not delete probe pod {left[0]}: the next rollback deletes it" in result.stderr
    )
    with fake.edit() as st:  # some minutes later
        st["objects"][f"customer-managed/pod/{left[0]}"]["metadata"]["creationTimestamp"] = (
            "2026-01-01T00:00:00Z"
        )
    assert rollback(fake).exit_code == 0
    assert not [n for n in fake.objects("pod") if "-probe-" in n]


def test_unexpected_error_after_first_change_still_tells_state_and_resume(fake, monkeypatch) -> None:
    from kubectl_prefect_rollback import rollback as rb

    def broken(run):
        raise KeyError("a bug")

    monkeypatch.setattr(rb, "_record", broken)
    result = rollback(fake)
    assert result.exit_code == 1 and "unexpected KeyError" in result.stderr  # the one error boundary
    assert "Traceback" not in result.stderr
    assert "steps done: lock; stopped in: scale-down" in result.stderr  # the record rides along with it
    assert "Resume: kubectl-prefect_rollback rollback --to 1.2.0 --yes -n customer-managed" in result.stderr
    assert fake.obj("lease", LEASE)["spec"]["holderIdentity"] == ""


def test_a_lease_taken_between_plan_and_lock_is_refused_before_any_change(fake, monkeypatch) -> None:
    """The lock step takes the lease the plan saw (none here): another run's lease created in between
    makes the create conflict, and the live holder is refused; nothing is scaled down."""
    import datetime as dt

    from kubectl_prefect_rollback import leases, preflight

    checked = preflight.check_plan

    def then_another_run_locks(*args, **kwargs):
        plan = checked(*args, **kwargs)
        assert plan.lease is None  # the plan saw no lease, and the lock step does not read it again
        renewed = leases.micro_time(dt.datetime.now(dt.timezone.utc))
        with fake.edit() as st:
            st["rv"] += 1
            st["objects"][f"customer-managed/lease/{LEASE}"] = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {
                    "name": LEASE,
                    "namespace": "customer-managed",
                    "resourceVersion": str(st["rv"]),
                },
                "spec": {
                    "holderIdentity": "bob@elsewhere/1",
                    "leaseDurationSeconds": 30,
                    "renewTime": renewed,
                },
            }
        return plan

    monkeypatch.setattr(preflight, "check_plan", then_another_run_locks)
    result = rollback(fake)
    assert result.exit_code == 3, result.stderr
    assert "another rollback holds lease" in result.stderr and "bob@elsewhere/1" in result.stderr
    assert not any(c["argv"][0] == "scale" for c in fake.calls("kubectl"))
    assert fake.obj("lease", LEASE)["spec"]["holderIdentity"] == "bob@elsewhere/1"
