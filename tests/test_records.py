from __future__ import annotations

import json

import pytest

from kubectl_prefect_rollback import records
from kubectl_prefect_rollback.errors import ParseError


def test_key_is_a_valid_configmap_key() -> None:
    assert records.key("1.2.0") == "1.2.0"
    assert records.key("1.2.0+build.1") == "1.2.0_build.1"


GOOD = json.dumps({"heads": {"nebula": "3fab1acc05c0", "orion": "5be81c0d2f34"}})


def test_parse_reads_what_we_wrote() -> None:
    parsed = records.parse({"data": {"1.2.0": GOOD}})
    assert records.heads(parsed, "1.2.0") == {
        "nebula": "3fab1acc05c0",
        "orion": "5be81c0d2f34",
        "events": None,
    }
    assert records.heads(parsed, "1.3.0") is None
    assert records.parse(None) == {}


@pytest.mark.parametrize(
    "value",
    [
        "{not json",
        "[1, 2]",
        json.dumps({"heads": ["a"]}),
        json.dumps({"heads": {"nebula": 7}}),
        json.dumps({"heads": {"nebula": "$(id)"}}),
        json.dumps({"heads": {"mysql": "3fab1acc05c0"}}),
        "[" * 100000,
    ],
    ids=["not-json", "list", "heads-list", "head-number", "head-hostile", "unknown-db", "deep"],
)
def test_parse_refuses_entries_we_did_not_write(value: str) -> None:
    cm = {
        "metadata": {"name": "r-prefect-rollback-revisions", "namespace": "ns"},
        "data": {"1.2.0": GOOD, "1.3.0": value},
    }
    with pytest.raises(ParseError, match="key '1.3.0' is not what kubectl-prefect-rollback wrote") as e:
        records.parse(cm)
    assert "kubectl edit configmap r-prefect-rollback-revisions -n ns" in e.value.format_message()
