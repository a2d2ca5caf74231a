"""Strategic merge, JSON merge and JSON patch."""

import pytest

from kubesim import patch

LIVE = {
    "spec": {
        "containers": [
            {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]},
            {"name": "b", "image": "b:1"},
        ]
    },
    "metadata": {"labels": {"k": "v", "drop": "me"}},
}


def test_strategic_merge_merges_lists_by_name():
    out = patch.strategic_merge(
        LIVE,
        {
            "spec": {
                "containers": [
                    {
                        "name": "a",
                        "image": "a:2",
                        "env": [{"name": "Y", "value": "3"}, {"name": "Z", "value": "4"}],
                    }
                ]
            }
        },
    )
    a, b = out["spec"]["containers"]
    assert a["image"] == "a:2" and b == {"name": "b", "image": "b:1"}
    assert a["env"] == [{"name": "X", "value": "1"}, {"name": "Y", "value": "3"}, {"name": "Z", "value": "4"}]


def test_strategic_merge_directives():
    out = patch.strategic_merge(
        LIVE,
        {
            "metadata": {"labels": {"drop": None}},
            "spec": {
                "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
                "containers": [{"name": "a", "$patch": "delete"}],
            },
        },
    )
    assert out["metadata"]["labels"] == {"k": "v"}
    assert [c["name"] for c in out["spec"]["containers"]] == ["b"]
    replaced = patch.strategic_merge(LIVE, {"spec": {"containers": [{"name": "c"}, {"$patch": "replace"}]}})
    assert replaced["spec"]["containers"] == [{"name": "c"}]


def test_set_element_order_reorders():
    out = patch.strategic_merge(
        LIVE, {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}}
    )
    assert [c["name"] for c in out["spec"]["containers"]] == ["b", "a"]


def test_retain_keys():
    out = patch.strategic_merge(
        {"s": {"type": "A", "a": 1, "b": 2}}, {"s": {"$retainKeys": ["type", "b"], "type": "B"}}
    )
    assert out == {"s": {"type": "B", "b": 2}}


def test_lists_without_merge_key_are_replaced():
    assert patch.strategic_merge({"args": ["a", "b"]}, {"args": ["c"]}) == {"args": ["c"]}


def test_json_merge():
    assert patch.json_merge({"a": {"b": 1, "c": 2}}, {"a": {"b": None, "d": 3}}) == {"a": {"c": 2, "d": 3}}


def test_json_patch():
    doc = {"spec": {"replicas": 1, "list": [1, 2]}}
    out = patch.json_patch(
        doc,
        [
            {"op": "replace", "path": "/spec/replicas", "value": 3},
            {"op": "add", "path": "/spec/list/-", "value": 3},
            {"op": "remove", "path": "/spec/list/0"},
            {"op": "test", "path": "/spec/replicas", "value": 3},
        ],
    )
    assert out == {"spec": {"replicas": 3, "list": [2, 3]}}
    with pytest.raises(patch.PatchError):
        patch.json_patch(doc, [{"op": "remove", "path": "/nope"}])
