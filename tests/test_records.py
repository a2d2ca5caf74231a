from __future__ import annotations

import json

from kubectl_prefect_rollback import records


def test_key_is_a_valid_configmap_key() -> None:
    assert records.key("1.2.0") == "1.2.0"
    assert records.key("1.2.0+build.1") == "1.2.0_build.1"


def test_parse_skips_hand_edited_garbage() -> None:
    cm = {"data": {"1.2.0": json.dumps({"heads": {"nebula": "a", "orion": "b"}}), "1.3.0": "{not json"}}
    parsed = records.parse(cm)
    assert set(parsed) == {"1.2.0"}
    assert records.heads(parsed, "1.2.0") == {"nebula": "a", "orion": "b", "events": None}
    assert records.heads(parsed, "1.3.0") is None
    assert records.parse(None) == {}
