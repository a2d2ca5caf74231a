"""Store: resourceVersions, conflicts, generation, cascading deletes, namespace deletion, replay."""

import pytest

from kubesim.store import ApiError, Store


def ns(name):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def cm(name, namespace="a", **data):
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": data,
    }


@pytest.fixture
def store():
    s = Store()
    s.create(ns("a"))
    return s


def test_create_assigns_metadata_and_a_growing_resource_version(store):
    one, two = store.create(cm("one")), store.create(cm("two"))
    assert one["metadata"]["uid"] and one["metadata"]["creationTimestamp"]
    assert int(two["metadata"]["resourceVersion"]) > int(one["metadata"]["resourceVersion"])


def test_unknown_namespace_is_404_and_duplicates_are_409(store):
    with pytest.raises(ApiError) as e:
        store.create(cm("x", namespace="missing"))
    assert e.value.code == 404 and e.value.message == 'namespaces "missing" not found'
    store.create(cm("x"))
    with pytest.raises(ApiError) as e:
        store.create(cm("x"))
    assert (e.value.code, e.value.reason) == (409, "AlreadyExists")


def test_stale_resource_version_conflicts(store):
    old = store.create(cm("x", k="1"))
    store.update({**old, "data": {"k": "2"}})
    with pytest.raises(ApiError) as e:
        store.update({**old, "data": {"k": "3"}})
    assert e.value.status()["reason"] == "Conflict"


def test_generation_counts_spec_changes_only(store):
    dep = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "namespace": "a"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"a": "b"}}, "template": {}},
    }
    live = store.create(dep)
    live["metadata"]["labels"] = {"x": "y"}
    live = store.update(live)
    assert live["metadata"]["generation"] == 1
    live["spec"]["replicas"] = 3
    assert store.update(live)["metadata"]["generation"] == 2


def test_noop_update_keeps_the_resource_version(store):
    live = store.create(cm("x", k="1"))
    assert store.update(live)["metadata"]["resourceVersion"] == live["metadata"]["resourceVersion"]


def test_job_template_is_immutable(store):
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "j", "namespace": "a"},
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}},
    }
    live = store.create(job)
    assert (
        live["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"]
        == live["metadata"]["uid"]
    )
    assert live["spec"]["template"]["metadata"]["labels"]["job-name"] == "j"
    live["spec"]["template"]["spec"]["containers"][0]["image"] = "other"
    with pytest.raises(ApiError) as e:
        store.update(live)
    assert e.value.code == 422 and "field is immutable" in e.value.message


def test_delete_cascades_through_owner_references(store):
    parent = store.create(cm("parent"))
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "parent", "uid": parent["metadata"]["uid"]}
    child = cm("child")
    child["metadata"]["ownerReferences"] = [ref]
    store.create(child)
    store.delete("ConfigMap", "a", "parent")
    assert store.find("ConfigMap", "a", "child") is None


def test_deleting_a_namespace_deletes_its_objects(store):
    store.create(cm("x"))
    store.delete("Namespace", "", "a")
    assert store.list("ConfigMap") == []


def test_since_replays_newer_events(store):
    rv = store.rv
    store.create(cm("x"))
    store.delete("ConfigMap", "a", "x")
    assert [(e, o["metadata"]["name"]) for _, e, o in store.since(rv)] == [("ADDED", "x"), ("DELETED", "x")]


def test_secret_string_data_becomes_data(store):
    sec = store.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "s", "namespace": "a"},
            "stringData": {"k": "v"},
        }
    )
    assert sec["data"] == {"k": "dg=="} and sec["type"] == "Opaque" and "stringData" not in sec
