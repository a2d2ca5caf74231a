"""Pods, containers and controllers through the Python API (no kubectl): what the kubelet simulates."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from kubesim.tests.test_contract import IMAGE, IMAGES, eventually


@pytest.fixture
def sim(kubesim):
    kubesim.register_images(str(IMAGES))
    return kubesim


def pod(name, containers, restart="Never", init=None):
    spec = {"restartPolicy": restart, "containers": containers}
    if init:
        spec["initContainers"] = init
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def sh(name, script, image=IMAGE, **extra):
    return {"name": name, "image": image, "command": ["/bin/sh", "-c", script], **extra}


def phase(sim, name):
    obj = sim.get("Pod", None, name)
    return obj and obj["status"]["phase"]


def statuses(sim, name, key="containerStatuses"):
    return {s["name"]: s for s in sim.get("Pod", None, name)["status"].get(key, [])}


def test_unknown_image_keeps_the_pod_pending(sim):
    sim.seed(pod("ghost", [sh("main", "true", image="registry.local/nope:9")]))
    eventually(
        lambda: (
            statuses(sim, "ghost")["main"]["state"].get("waiting", {}).get("reason") == "ImagePullBackOff"
        ),
        what="ImagePullBackOff",
    )
    assert phase(sim, "ghost") == "Pending"


def test_init_containers_run_in_order_then_the_main_ones(sim, tmp_path):
    sim.add_bind(str(tmp_path), "/shared", read_only=False)
    sim.seed(
        pod(
            "ordered",
            [sh("main", "echo main >> /shared/order")],
            init=[sh("first", "echo first >> /shared/order"), sh("second", "echo second >> /shared/order")],
        )
    )
    eventually(lambda: phase(sim, "ordered") == "Succeeded", what="Succeeded")
    assert (tmp_path / "order").read_text() == "first\nsecond\nmain\n"
    assert {
        n: s["state"]["terminated"]["exitCode"]
        for n, s in statuses(sim, "ordered", "initContainerStatuses").items()
    } == {"first": 0, "second": 0}


def test_a_sidecar_keeps_the_pod_running_after_the_main_container_exits(sim):
    sim.seed(pod("istio", [sh("migrate", "exit 3"), sh("proxy", "exec sleep 600")]))
    eventually(lambda: "terminated" in statuses(sim, "istio")["migrate"]["state"], what="migrate to finish")
    time.sleep(0.3)
    st = statuses(sim, "istio")
    assert phase(sim, "istio") == "Running" and st["migrate"]["state"]["terminated"]["exitCode"] == 3
    assert st["proxy"]["ready"] and not st["migrate"]["ready"]


def test_restart_policy_always_restarts_with_crash_loop_back_off(sim):
    sim.seed(pod("crashy", [sh("main", "exit 1")], restart="Always"))
    st = eventually(
        lambda: (s := statuses(sim, "crashy")["main"])["restartCount"] >= 1 and s, what="a restart"
    )
    assert st["lastState"]["terminated"]["exitCode"] == 1
    assert phase(sim, "crashy") == "Running"


def test_env_layers_image_secret_configmap_and_expansion(sim):
    sim.seed(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"COLOR": "blue"}}
    )
    sim.seed(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sec"}, "stringData": {"pw": "s3cret"}}
    )
    env = [
        {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "pw"}}},
        {"name": "GREETING", "value": "hi $(IMAGE_NAME)"},
    ]
    sim.seed(
        pod(
            "envy",
            [
                sh(
                    "main",
                    'echo "$IMAGE_NAME $COLOR $PW $GREETING $(pwd)"',
                    env=env,
                    envFrom=[{"configMapRef": {"name": "cfg"}}],
                )
            ],
        )
    )
    eventually(lambda: phase(sim, "envy") == "Succeeded", what="Succeeded")
    log = Path(sim.state_dir, "pods", sim.get("Pod", None, "envy")["metadata"]["uid"], "main.log")
    assert log.read_text() == "tiny blue s3cret hi tiny /\n"


def test_deployment_rollout_creates_a_new_replicaset_and_scales_the_old_one_down(sim):
    def deploy(message, replicas=1):
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "roll"},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "roll"}},
                "template": {
                    "metadata": {"labels": {"app": "roll"}, "annotations": {"m": message}},
                    "spec": {"containers": [sh("srv", "exec sleep 600")]},
                },
            },
        }

    def rs_replicas():
        return {r["metadata"]["name"]: r["spec"]["replicas"] for r in sim.list("ReplicaSet", sim.namespace)}

    sim.seed(deploy("one"))
    first = eventually(lambda: rs_replicas(), what="a ReplicaSet")
    sim.seed(deploy("two"))
    both = eventually(lambda: len(r := rs_replicas()) == 2 and r, what="a second ReplicaSet")
    (old,) = first
    assert both[old] == 0 and [v for k, v in both.items() if k != old] == [1]
    new_rs = next(k for k in both if k != old)
    pods = eventually(
        lambda: (
            [p for p in sim.list("Pod", sim.namespace, "app=roll") if p["status"]["phase"] == "Running"]
            if len(sim.list("Pod", sim.namespace, "app=roll")) == 1
            else None
        ),
        what="only the new pod",
    )
    assert pods[0]["metadata"]["name"].startswith(new_rs + "-")
    status = eventually(
        lambda: (
            (d := sim.get("Deployment", None, "roll"))["status"].get("availableReplicas") == 1 and d["status"]
        ),
        what="available",
    )
    assert status["observedGeneration"] == 2 and status["updatedReplicas"] == 1
    assert {c["type"]: c["reason"] for c in status["conditions"]} == {
        "Available": "MinimumReplicasAvailable",
        "Progressing": "NewReplicaSetAvailable",
    }
    sim.seed(deploy("two", replicas=0))
    eventually(lambda: not sim.list("Pod", sim.namespace, "app=roll"), what="pods to stop")


def test_deleting_a_pod_kills_its_whole_process_tree(sim):
    # odd durations make these processes recognisable in /proc
    sim.seed(pod("tree", [sh("main", "sleep 6011 & exec sleep 6012")]))
    eventually(lambda: len(_sleepers()) == 2, what="both processes")
    sim.delete("Pod", None, "tree")
    eventually(lambda: not _sleepers(), what="processes to die")


def _sleepers() -> list[int]:
    out = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if (proc / "cmdline").read_bytes() in (b"sleep\x006011\x00", b"sleep\x006012\x00"):
                    out.append(int(proc.name))
            except OSError:
                pass
    return out


def test_a_libs_based_image_brings_its_own_bin_and_sees_no_host_programs(tmp_path: Path) -> None:
    import json

    from kubesim import runtime

    root = tmp_path / "img"
    (root / ".kubesim").mkdir(parents=True)
    (root / "bin").mkdir()
    (root / ".kubesim" / "image.json").write_text(json.dumps({"ref": "r/x:1", "base": "libs"}))
    argv = runtime.sandbox_argv(runtime.Image.load(None, root), tmp_path, [], {}, None, ["sh"])
    binds = [(argv[i + 1], argv[i + 2]) for i, a in enumerate(argv) if a == "--ro-bind"]
    assert ("/usr/lib", "/usr/lib") in binds and (str(root / "bin"), "/bin") in binds
    assert ("/usr", "/usr") not in binds and not any(dest == "/usr/bin" for _, dest in binds)
