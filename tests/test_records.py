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


CLI = {"image": "reg/prefect/server:1.3.0", "imageID": "reg/prefect/server@sha256:ab12", "yes": True}


@pytest.mark.parametrize(
    ("image", "image_id", "answer"),
    [
        ("reg/prefect/server:1.3.0", "reg/prefect/server@sha256:ab12", True),  # the very image
        ("reg/prefect/server:1.3.0", "reg/prefect/server@sha256:cd34", None),  # the tag was pushed again
        ("reg/prefect/server:1.3.1", "reg/prefect/server@sha256:ab12", None),  # another reference
        ("reg/prefect/server:1.3.0", "", None),  # no digest to compare: nothing is trusted
    ],
    ids=["same-image", "re-pushed-tag", "other-reference", "no-digest"],
)
def test_the_recorded_y_answer_counts_only_for_the_image_it_was_asked_in(image, image_id, answer) -> None:
    entries = records.parse({"data": {"1.3.0": json.dumps({"heads": {}, "cli": CLI})}})
    assert records.cli_answer(entries, "1.3.0", image, image_id) is answer
    assert records.cli_answer(entries, "1.2.0", CLI["image"], CLI["imageID"]) is None  # another version


def test_a_recorded_y_answer_of_another_shape_is_not_trusted() -> None:
    for cli in ({**CLI, "yes": "true"}, ["reg/prefect/server:1.3.0"], None):
        entries = records.parse({"data": {"1.3.0": json.dumps({"heads": {}, "cli": cli})}})
        assert records.cli_answer(entries, "1.3.0", CLI["image"], CLI["imageID"]) is None


def _written(monkeypatch, cm, write=None) -> list[dict]:
    stored: list[dict] = []
    monkeypatch.setattr(records, "_store", lambda t, release, obj, data: stored.append(data))
    records.write(None, "r", write or WRITE, records.seen(cm))  # type: ignore[arg-type]
    return [{k: json.loads(v) for k, v in d.items()} for d in stored]


HEADS = {"nebula": "3fab1acc05c0", "orion": "5be81c0d2f34", "events": None}
ANSWER = records.Cli(CLI["image"], CLI["imageID"], True)
WRITE = {"1.3.0": records.Entry(HEADS, "pod p", ANSWER)}


def test_the_y_answer_is_written_with_the_heads_and_an_entry_gains_it_once(monkeypatch) -> None:
    [first] = _written(monkeypatch, None)
    assert first["1.3.0"]["heads"] == HEADS and first["1.3.0"]["cli"] == CLI
    # heads recorded before without the answer: written again, now with it
    before = {
        "metadata": {"name": "r-prefect-rollback-revisions"},
        "data": {"1.3.0": json.dumps({"heads": HEADS})},
    }
    assert [d["1.3.0"]["cli"] for d in _written(monkeypatch, before)] == [CLI]
    # both recorded as they are: nothing written
    same = {
        "metadata": {"name": "r-prefect-rollback-revisions"},
        "data": {"1.3.0": json.dumps(first["1.3.0"])},
    }
    assert _written(monkeypatch, same) == []


def test_the_files_the_heads_were_listed_from_are_kept_and_an_entry_listed_elsewhere_is_rewritten(
    monkeypatch,
) -> None:
    listed = {"1.2.0": records.Entry(HEADS, "a probe pod", files="docker://sha256:aaa")}
    [first] = _written(monkeypatch, None, listed)
    assert first["1.2.0"]["files"] == "docker://sha256:aaa"
    cm = {"metadata": {"name": "r-prefect-rollback-revisions"}, "data": {"1.2.0": json.dumps(first["1.2.0"])}}
    assert records.files(records.parse(cm), "1.2.0") == "docker://sha256:aaa"
    assert _written(monkeypatch, cm, listed) == []  # as recorded: nothing written
    # the same heads listed from another digest (a re-pushed tag): the entry names the new files
    again = {"1.2.0": records.Entry(HEADS, "a probe pod", files="docker://sha256:bbb")}
    assert [d["1.2.0"]["files"] for d in _written(monkeypatch, cm, again)] == ["docker://sha256:bbb"]
    # heads listed where the files are not known: the entry keeps no files of another listing
    unknown = {"1.2.0": records.Entry({**HEADS, "events": "3b5402bd348f"}, "a probe pod")}
    assert ["files" in d["1.2.0"] for d in _written(monkeypatch, cm, unknown)] == [False]


@pytest.mark.parametrize("value", ['{"heads": {}, "files": 7}', '{"heads": {}}'])
def test_recorded_files_of_another_shape_are_unknown(value: str) -> None:
    assert records.files(records.parse({"data": {"1.2.0": value}}), "1.2.0") == ""
