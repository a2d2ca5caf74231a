"""The matrices' rows are the calls a rollback really makes: record a fault-free one through the shim."""

from __future__ import annotations

from tests.e2e.faults import cells, harness
from tests.e2e.faults.shim import call_kind


def test_call_kind_normalises_argv_to_binary_verb_and_resource() -> None:
    assert call_kind("kubectl", ["get", "--namespace", "n", "pods", "-o", "json"]) == "kubectl get pod"
    assert (
        call_kind("kubectl", ["apply", "-n", "n", "--filename", "-"], b'{"kind": "Job"}')
        == "kubectl apply job"
    )
    assert call_kind("kubectl", ["scale", "deployment/x", "--replicas=0"]) == "kubectl scale deployment"
    assert call_kind("kubectl", ["logs", "p", "--container", "c", "--follow"]) == "kubectl logs --follow"
    assert (
        call_kind("kubectl", ["exec", "p", "--container", "c", "--", "sh", "-c", "get x"]) == "kubectl exec"
    )
    assert call_kind("kubectl", ["exec", "p", "--", "sh", "-c", "x --help"]) == "kubectl exec --help"
    assert call_kind("helm", ["get", "hooks", "r", "--revision", "2"]) == "helm get hooks"
    both = ["get", "-n", "n", "lease/a", "configmap/b", "--ignore-not-found", "-o", "json"]
    assert call_kind("kubectl", both) == "kubectl get lease,configmap"  # two objects, one call
    assert call_kind("kubectl", ["get", "pods,deployments", "-o", "json"]) == "kubectl get pods,deployments"
    assert call_kind("helm", ["upgrade", "--install", "r", "chart", "--version", "1"]) == "helm upgrade"
    dry = ["apply", "--dry-run=server", "--filename", "-"]
    assert call_kind("kubectl", dry, b'{"kind": "Job"}') == "kubectl apply job --dry-run"
    assert call_kind("helm", ["upgrade", "r", "chart", "--dry-run=server"]) == "helm upgrade --dry-run"


def test_rows_are_the_distinct_calls_of_a_fault_free_rollback(shimmed) -> None:
    app, shim = shimmed()
    res = harness.run(shim, harness.rollback_argv(app), 300)
    assert res.returncode == 0, res.text()
    seen = shim.calls()
    kinds = [c["kind"] for c in seen]
    rows = cells.calls()
    assert {r.kind for r in rows} == set(kinds), "tests/data/faults/calls.json is out of date"
    for row in rows:  # the call the spec would hit exists, after its anchor
        start = kinds.index(row.after) + 1 if row.after else 0
        assert row.kind in kinds[start:], f"{row.id}: no `{row.kind}` after `{row.after}`"
    for moment in cells.MOMENTS:
        start = kinds.index(moment.after) + 1 if moment.after else 0
        assert moment.kind in kinds[start:], moment.id
    assert not harness.problems_with_target(app, res)
