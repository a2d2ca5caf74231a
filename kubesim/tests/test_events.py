"""events: the timeline records every change in resourceVersion order and every request on arrival."""

import time

from kubesim.events import Timeline
from kubesim.store import Store


def test_changes_are_recorded_in_resource_version_order_without_secret_data():
    timeline, store = Timeline(), Store()
    store.listeners.append(timeline.on_change)
    store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}})
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "a"}}
    store.create({**secret, "data": {"k": "dmFsdWU="}})
    store.update({**secret, "data": {"k": "b3RoZXI="}}, check_rv=False)
    store.delete("Secret", "a", "s")

    seen = list(timeline.changes_in("a", "Secret"))

    assert [c.event for c in seen] == ["ADDED", "MODIFIED", "DELETED"]
    assert [c.rv for c in seen] == sorted(c.rv for c in seen) and len({c.rv for c in seen}) == 3
    assert all("data" not in c.obj for c in seen), "payloads are not kept"
    assert seen[0].t <= seen[1].t <= seen[2].t
    assert list(timeline.changes_in("other")) == []


def test_requests_keep_their_list_shape_and_are_stamped_on_arrival():
    timeline = Timeline()
    t0 = time.monotonic()
    timeline.requests.append(("PATCH", "/apis/apps/v1/namespaces/a/deployments/x/scale"))
    timeline.requests.append(("GET", "/api"))
    t1 = time.monotonic()

    assert timeline.requests == [("PATCH", "/apis/apps/v1/namespaces/a/deployments/x/scale"), ("GET", "/api")]
    assert [r.method for r in timeline.requests_between(t0, t1)] == ["PATCH", "GET"]
    assert [r.method for r in timeline.requests_between(t0, t1, namespace="a")] == ["PATCH"]
    assert timeline.requests_between(t1 + 1, t1 + 2) == []
    timeline.requests.clear()
    assert timeline.requests == [] and timeline.requests_between(t0, t1) == []
