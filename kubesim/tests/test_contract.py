"""The contract suite: the real kubectl and helm binaries against kubesim.

Every command of the table in kubesim-notes.md, with each kubectl (1.31.9, 1.32, 1.35.2) and each helm
(3.10.1, 3.17.3, 4.1.4), asserting on real outputs and exit codes. One server serves the session (the
`kubesim` fixture); each test has its own namespace and its own HOME / HELM_*_HOME.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

from kubesim.tools import require_tool

if TYPE_CHECKING:  # the harness imports aiohttp: not a cost of collecting this file in a run without it
    from kubesim import KubeSim

HERE = Path(__file__).parent
CHART = HERE / "testdata" / "chart"
IMAGES = HERE / "testdata" / "images"
IMAGE = "registry.local/tiny:1.0"
KUBECTLS = ["1.31.9", "1.32", "1.35.2"]
HELMS = ["3.10.1", "3.17.3", "4.1.4"]


class Cli:
    """Runs one tool binary with the test's kubeconfig and private HOME; never through a shell."""

    def __init__(self, binary: str, sim: KubeSim, home: Path) -> None:
        self.binary, self.sim = binary, sim
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "KUBECONFIG": sim.kubeconfig,
            "HELM_DATA_HOME": str(home / "helm-data"),
            "HELM_CONFIG_HOME": str(home / "helm-config"),
            "HELM_CACHE_HOME": str(home / "helm-cache"),
        }

    def __call__(
        self, *args: str, stdin: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            (self.binary, *args), input=stdin, capture_output=True, text=True, env=self.env, timeout=timeout
        )

    def ok(self, *args: str, stdin: str | None = None) -> str:
        proc = self(*args, stdin=stdin)
        assert proc.returncode == 0, f"{args} exited {proc.returncode}: {proc.stderr}"
        return proc.stdout


@pytest.fixture
def sim(kubesim: KubeSim) -> KubeSim:
    kubesim.register_images(str(IMAGES))
    return kubesim


@pytest.fixture(params=KUBECTLS)
def kubectl(request, sim, tmp_path) -> Cli:
    return Cli(require_tool("kubectl", request.param), sim, tmp_path)


@pytest.fixture(params=HELMS)
def helm(request, sim, tmp_path) -> Cli:
    return Cli(require_tool("helm", request.param), sim, tmp_path)


def job_yaml(name: str, script: str, backoff_limit: int = 0) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name},
            "spec": {
                "backoffLimit": backoff_limit,
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [
                            {"name": "main", "image": IMAGE, "command": ["/bin/sh", "-c", script]}
                        ],
                    }
                },
            },
        }
    )


def deployment_yaml(name: str, replicas: int = 1) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {
                        "containers": [
                            {
                                "name": "srv",
                                "image": IMAGE,
                                "command": ["/bin/sh", "-c", "echo up > /tmp/up; exec sleep 600"],
                                "readinessProbe": {
                                    "exec": {"command": ["cat", "/tmp/up"]},
                                    "periodSeconds": 1,
                                },
                            }
                        ]
                    },
                },
            },
        }
    )


def eventually(predicate, timeout: float = 15, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


# -- kubectl -------------------------------------------------------------------------------------------------
def test_get_json_and_table(kubectl, sim):
    kubectl.ok("apply", "-f", "-", stdin=job_yaml("hello", "echo hi"))
    job = json.loads(kubectl.ok("get", "job", "hello", "-o", "json"))
    uid = job["metadata"]["uid"]
    assert job["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    kubectl.ok("wait", "--for=condition=complete", "job/hello", "--timeout=30s")
    pods = json.loads(kubectl.ok("get", "pods", "-n", sim.namespace, "-l", "job-name=hello", "-o", "json"))
    (pod,) = pods["items"]
    assert pod["metadata"]["labels"]["batch.kubernetes.io/controller-uid"] == uid
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "Job"
    assert pod["status"]["phase"] == "Succeeded"
    state = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (state["exitCode"], state["reason"]) == (0, "Completed")
    table = kubectl.ok("get", "pods")
    assert table.split()[:5] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"] and "Completed" in table
    assert kubectl.ok("get", "job", "hello", "-o", "name") == "job.batch/hello\n"


def test_apply_reapply_immutable_and_create_conflict(kubectl):
    assert kubectl.ok("apply", "-f", "-", stdin=job_yaml("mig", "echo one")) == "job.batch/mig created\n"
    assert kubectl.ok("apply", "-f", "-", stdin=job_yaml("mig", "echo one")) == "job.batch/mig unchanged\n"
    changed = kubectl("apply", "-f", "-", stdin=job_yaml("mig", "echo two"))
    assert changed.returncode == 1 and "field is immutable" in changed.stderr
    cm = yaml.safe_dump(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}}
    )
    assert kubectl.ok("create", "-f", "-", stdin=cm) == "configmap/c created\n"
    again = kubectl("create", "-f", "-", stdin=cm)
    assert again.returncode == 1 and 'configmaps "c" already exists' in again.stderr
    kubectl.ok("patch", "configmap", "c", "--type=merge", "-p", '{"data": {"m": "1"}}')
    kubectl.ok("patch", "configmap", "c", "--type=json", "-p", '[{"op": "remove", "path": "/data/k"}]')
    assert json.loads(kubectl.ok("get", "configmap", "c", "-o", "json"))["data"] == {"m": "1"}
    ssa = cm.replace("name: c", "name: ssa")
    assert kubectl.ok("apply", "--server-side", "-f", "-", stdin=ssa) == "configmap/ssa serverside-applied\n"


def test_server_dry_run_validates_and_stores_nothing(kubectl, sim):
    """kubectl --dry-run=server (dryRun=All) on create, apply (create and patch) and patch: the answer is
    what would be stored, the checks are the real ones, nothing is stored."""
    dry = ("--dry-run=server", "-o", "json")
    created = json.loads(kubectl.ok("apply", *dry, "-f", "-", stdin=job_yaml("dry", "echo one")))
    assert created["metadata"]["name"] == "dry" and kubectl("get", "job", "dry").returncode == 1
    assert kubectl.ok("create", "--dry-run=server", "-f", "-", stdin=job_yaml("dry", "echo one"))
    assert kubectl("get", "job", "dry").returncode == 1
    broken = yaml.safe_load(job_yaml("bad", "echo"))
    del broken["spec"]["template"]["spec"]["containers"][0]["image"]
    refused = kubectl("apply", "--dry-run=server", "-f", "-", stdin=yaml.safe_dump(broken))
    assert refused.returncode == 1 and "containers[0].image: Required value" in refused.stderr
    kubectl.ok("apply", "-f", "-", stdin=job_yaml("live", "echo one"))
    before = json.loads(kubectl.ok("get", "job", "live", "-o", "json"))["metadata"]["resourceVersion"]
    changed = kubectl("apply", "--dry-run=server", "-f", "-", stdin=job_yaml("live", "echo two"))
    assert changed.returncode == 1 and "field is immutable" in changed.stderr
    kubectl.ok("label", "--dry-run=server", "job", "live", "x=y")
    kubectl.ok(
        "patch", "job", "live", "--dry-run=server", "--type=merge", "-p", '{"metadata":{"labels":{"p":"q"}}}'
    )
    after = json.loads(kubectl.ok("get", "job", "live", "-o", "json"))
    assert after["metadata"]["resourceVersion"] == before
    assert "x" not in after["metadata"].get("labels", {}) and "p" not in after["metadata"].get("labels", {})


def test_logs_follow_and_wait_complete(kubectl):
    kubectl.ok("apply", "-f", "-", stdin=job_yaml("talk", "for i in 1 2 3; do echo line $i; sleep 0.2; done"))
    logs = eventually(
        lambda: (p := kubectl("logs", "job/talk", "-c", "main", "-f")).returncode == 0 and p.stdout,
        what="the container to start",
    )
    assert logs == "line 1\nline 2\nline 3\n"
    out = kubectl.ok("wait", "--for=condition=complete", "job/talk", "--timeout=30s")
    assert out == "job.batch/talk condition met\n"


def test_logs_before_start_is_a_400_and_wait_times_out(kubectl, sim):
    sim.set_start_delay(3)
    kubectl.ok("apply", "-f", "-", stdin=job_yaml("slow", "sleep 30"))
    pod = eventually(lambda: sim.list("Pod", sim.namespace, "job-name=slow"), what="the pod")[0]
    early = kubectl("logs", pod["metadata"]["name"])
    assert early.returncode == 1 and "is waiting to start: ContainerCreating" in early.stderr
    timed_out = kubectl("wait", "--for=condition=complete", "job/slow", "--timeout=1s")
    assert timed_out.returncode == 1 and "timed out waiting for the condition" in timed_out.stderr


def test_exec_stdout_stderr_exit_code_and_stdin(kubectl, sim):
    kubectl.ok("apply", "-f", "-", stdin=deployment_yaml("web"))
    kubectl.ok("rollout", "status", "deployment/web", "--timeout=30s")
    pod = sim.list("Pod", sim.namespace, "app=web")[0]["metadata"]["name"]
    proc = kubectl("exec", pod, "-c", "srv", "--", "sh", "-c", "cat /tmp/up; echo oops >&2; exit 7")
    assert (proc.returncode, proc.stdout, proc.stderr.splitlines()[0]) == (7, "up\n", "oops")
    assert kubectl.ok("exec", "-i", pod, "--", "tr", "a-z", "A-Z", stdin="hello\n") == "HELLO\n"


def test_scale_and_delete_stop_processes(kubectl, sim):
    kubectl.ok("apply", "-f", "-", stdin=deployment_yaml("api"))
    assert kubectl.ok("scale", "deployment/api", "--replicas=2") == "deployment.apps/api scaled\n"
    kubectl.ok("rollout", "status", "deployment/api", "--timeout=30s")
    assert len(sim.list("Pod", sim.namespace, "app=api")) == 2
    kubectl.ok("scale", "deployment/api", "--replicas=0")
    eventually(lambda: not sim.list("Pod", sim.namespace, "app=api"), what="pods to stop")
    kubectl.ok("apply", "-f", "-", stdin=job_yaml("long", "exec sleep 300"))
    eventually(lambda: sim.list("Pod", sim.namespace, "job-name=long"), what="the job pod")
    out = kubectl.ok("delete", "job", "long")
    assert out.startswith('job.batch "long" deleted')
    assert sim.get("Job", None, "long") is None and not sim.list("Pod", sim.namespace, "job-name=long")


def test_imperative_create_sends_protobuf(kubectl, sim):
    kubectl.ok("create", "secret", "generic", "s", "--from-literal=password=hunter2")
    kubectl.ok("create", "configmap", "cfg", "--from-literal=a=b")
    assert sim.get("Secret", None, "s")["data"] == {"password": "aHVudGVyMg=="}
    assert sim.get("ConfigMap", None, "cfg")["data"] == {"a": "b"}
    assert json.loads(kubectl.ok("get", "secret", "s", "-o", "json"))["type"] == "Opaque"


def test_failed_job_and_injected_faults(kubectl, sim):
    sim.fail_container("main", 4)
    kubectl.ok("apply", "-f", "-", stdin=job_yaml("doomed", "echo fine"))
    out = kubectl.ok("wait", "--for=condition=failed", "job/doomed", "--timeout=30s")
    assert out == "job.batch/doomed condition met\n"
    job = sim.get("Job", None, "doomed")
    assert [c["type"] for c in job["status"]["conditions"]] == ["FailureTarget", "Failed"]
    assert job["status"]["conditions"][1]["reason"] == "BackoffLimitExceeded" and job["status"]["failed"] == 1
    sim.fail_requests("POST", r"/jobs", status=500)
    failed = kubectl("create", "-f", "-", stdin=job_yaml("other", "true"))
    assert failed.returncode == 1 and "injected failure" in failed.stderr


# -- helm ----------------------------------------------------------------------------------------------------
def history(helm: Cli) -> list[tuple[int, str]]:
    return [(r["revision"], r["status"]) for r in json.loads(helm.ok("history", "rel", "-o", "json"))]


def test_helm_release_lifecycle(helm, sim):
    install = helm.ok("upgrade", "--install", "rel", str(CHART), "--wait", "--timeout", "60s")
    assert "STATUS: deployed" in install and "REVISION: 1" in install
    (release,) = json.loads(helm.ok("list", "-o", "json"))
    assert (release["name"], release["status"], release["revision"]) == ("rel", "deployed", "1")
    assert sim.get("Deployment", None, "rel-server")["status"]["readyReplicas"] == 1

    helm.ok("upgrade", "rel", str(CHART), "--set", "message=v2", "--wait", "--timeout", "60s")
    hook = sim.get("Job", None, "rel-migrate")
    assert [c["type"] for c in hook["status"]["conditions"]] == ["SuccessCriteriaMet", "Complete"]

    failed = helm(
        "upgrade",
        "rel",
        str(CHART),
        "--set",
        "message=v3",
        "--set",
        "hook.exitCode=3",
        "--wait",
        "--timeout",
        "60s",
    )
    assert failed.returncode == 1
    if helm.binary.endswith("4.1.4/helm"):
        assert (
            "pre-upgrade hooks failed: resource Job/"
            + sim.namespace
            + "/rel-migrate not ready. status: Failed"
            in failed.stderr
        )
    else:
        assert "pre-upgrade hooks failed" in failed.stderr and "BackoffLimitExceeded" in failed.stderr
    assert history(helm) == [(1, "superseded"), (2, "deployed"), (3, "failed")]

    assert json.loads(helm.ok("get", "values", "rel", "-o", "json")) == {
        "message": "v3",
        "hook": {"exitCode": 3},
    }
    assert '"helm.sh/hook": pre-upgrade' in helm.ok("get", "hooks", "rel")
    manifest = helm.ok("get", "manifest", "rel", "--revision", "2")
    assert {d["kind"] for d in yaml.safe_load_all(manifest) if d} == {"ConfigMap", "Service", "Deployment"}

    helm.ok("rollback", "rel", "2", "--wait", "--timeout", "60s")
    assert history(helm)[-1] == (4, "deployed")
    assert sim.get("ConfigMap", None, "rel-config")["data"] == {"message": "v2"}

    assert helm.ok("uninstall", "rel") == 'release "rel" uninstalled\n'
    assert json.loads(helm.ok("list", "-o", "json")) == []
    assert sim.get("Deployment", None, "rel-server") is None
    eventually(lambda: not sim.list("Pod", sim.namespace, "app=rel-server"), what="server pods to stop")


def test_helm_template_show_only_needs_no_server(helm, sim):
    sim.requests.clear()
    out = helm.ok(
        "template", "rel", str(CHART), "--show-only", "templates/configmap.yaml", "--set", "message=x"
    )
    assert yaml.safe_load(out)["data"] == {"message": "x"}
    assert sim.requests == []


# -- startup -------------------------------------------------------------------------------------------------
@pytest.mark.kubesim  # starts its own KubeSim instead of taking the fixture
def test_starts_and_answers_kubectl_get_pods_quickly(tmp_path):
    from kubesim import KubeSim  # imported before the clock starts: the start is what is timed

    kubectl = require_tool("kubectl", "1.32")
    began = time.monotonic()
    with KubeSim(tls=True) as fresh:
        env = {"HOME": str(tmp_path), "KUBECONFIG": fresh.kubeconfig, "PATH": os.environ.get("PATH", "")}
        proc = subprocess.run((kubectl, "get", "pods"), capture_output=True, text=True, env=env, timeout=30)
        elapsed = time.monotonic() - began
    assert proc.returncode == 0 and "No resources found in default namespace." in proc.stderr
    assert elapsed < 1.5, f"kubesim start + kubectl get pods took {elapsed:.2f}s"
