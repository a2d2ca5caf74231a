"""kube.get_each: several named objects in one `kubectl get kind/name …`, matched by kind and name."""

from __future__ import annotations

import json

import pytest

from kubectl_prefect_rollback import kube
from kubectl_prefect_rollback.errors import ParseError
from kubectl_prefect_rollback.target import Target

REFS = (("lease", "r-prefect-rollback"), ("configmap", "r-prefect-rollback-revisions"))
CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "r-prefect-rollback-revisions"}}


def stub(monkeypatch, out: str) -> list[tuple]:
    argvs = []
    monkeypatch.setattr(kube, "_kubectl", lambda t, verb, *args, **kw: argvs.append((verb, *args)) or out)
    return argvs


def test_one_call_for_both_and_nothing_printed_means_both_absent(monkeypatch) -> None:
    argvs = stub(monkeypatch, "")
    assert kube.get_each(Target("ns"), *REFS) == [None, None]
    assert argvs == [
        (
            "get",
            "lease/r-prefect-rollback",
            "configmap/r-prefect-rollback-revisions",
            "--ignore-not-found",
            "--output",
            "json",
        )
    ]


def test_a_list_of_those_found_is_matched_by_kind_and_name_not_position(monkeypatch) -> None:
    stub(monkeypatch, json.dumps({"apiVersion": "v1", "kind": "List", "items": [CM]}))
    assert kube.get_each(Target("ns"), *REFS) == [None, CM]


def test_output_that_is_not_a_list_of_objects_is_a_parse_error_naming_the_call(monkeypatch) -> None:
    stub(monkeypatch, "<html>")
    with pytest.raises(ParseError, match="kubectl get lease/r-prefect-rollback configmap/"):
        kube.get_each(Target("ns"), *REFS)
    stub(monkeypatch, json.dumps({"kind": "List", "items": [{"kind": "Lease", "metadata": []}]}))
    with pytest.raises(ParseError, match="metadata is not a mapping"):
        kube.get_each(Target("ns"), *REFS)
