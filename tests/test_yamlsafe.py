"""yamlsafe: one loader, libyaml's parser under our own composer; refusals the same either way."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kubectl_prefect_rollback import yamlsafe
from kubectl_prefect_rollback.errors import ParseError

DATA = Path(__file__).parent / "data"


class _PurePython(yamlsafe.Guard, yaml.SafeLoader):
    """The pure-Python parser under the same guard: what a PyYAML without libyaml gets."""


def _documents() -> list[str]:
    texts = [p.read_text() for p in sorted(DATA.rglob("*.yaml"))]
    return [d for t in texts for d in t.split("\n---\n") if d.strip()]


def test_the_libyaml_parser_is_used_when_pyyaml_has_it():
    assert yaml.__with_libyaml__, "the test venv's PyYAML should carry libyaml"
    assert yamlsafe.FAST
    assert "CParser" in [c.__name__ for c in yamlsafe.Loader.__mro__]


def test_both_parsers_read_every_yaml_file_of_the_test_data_alike():
    docs = _documents()
    assert len(docs) > 20
    for doc in docs:
        try:
            want = _PurePython(doc).get_single_data()
        except yaml.YAMLError:
            with pytest.raises(ParseError):
                yamlsafe.load(doc, what="doc")
            continue
        assert yamlsafe.load(doc, what="doc") == want


@pytest.mark.parametrize(
    "text, message",
    [
        ("a: &x [1]\nb: *x\n", "YAML aliases (*name) are not accepted (line 2)"),
        (
            "a:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 70)) + "  " * 70 + "v\n",
            "nested deeper than 64",
        ),
        ("[" * 100000, "nested deeper than 64"),
        (b"a: \xff\xfe\x00", "is not valid YAML"),
        ("a: [1\n", "is not valid YAML"),
    ],
    ids=["alias", "deep-block", "deep-flow", "undecodable", "broken"],
)
def test_refusals_name_the_source_and_the_reason(text, message):
    with pytest.raises(ParseError) as e:
        yamlsafe.load(text, what="values file v.yaml")
    assert e.value.message.startswith("values file v.yaml ")
    assert message in e.value.message


def test_anchors_without_aliases_and_plain_documents_load():
    assert yamlsafe.load("a: &x 1\nb: 2\n", what="x") == {"a": 1, "b": 2}
    assert yamlsafe.load("", what="x") is None
    assert yamlsafe.load_mapping("", what="x") == {}


@pytest.mark.parametrize(
    "text, message",
    [
        ("a: &x [1]\nb: *x\n", "YAML aliases (*name) are not accepted (line 2)"),
        ("a: " + "[" * 70, "nested deeper than 64"),
    ],
    ids=["alias", "deep"],
)
def test_the_pure_python_parser_under_the_guard_refuses_alike(text, message):
    with pytest.raises(
        yaml.YAMLError, match=message.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")
    ):
        _PurePython(text).get_single_data()


def _counting_parses(monkeypatch) -> list[str]:
    parsed: list[str] = []
    real = yamlsafe.Loader

    def loader(text):
        parsed.append(text)
        return real(text)

    yamlsafe._parsed.cache_clear()
    monkeypatch.setattr(yamlsafe, "Loader", loader)
    return parsed


def test_a_text_read_again_is_not_parsed_again_and_each_caller_gets_its_own_copy(monkeypatch):
    parsed = _counting_parses(monkeypatch)
    text = "kind: Job\nspec:\n  containers: [{name: a, args: [x]}]\n"
    first = yamlsafe.load(text, what="helm template")
    first["spec"]["containers"][0]["args"].append("changed by its caller")
    second = yamlsafe.load(text, what="the target chart")
    assert second == {"kind": "Job", "spec": {"containers": [{"name": "a", "args": ["x"]}]}}
    assert parsed == [text]


def test_a_bad_text_read_again_names_each_callers_source(monkeypatch):
    _counting_parses(monkeypatch)
    for what in ("values file a.yaml", "values file b.yaml"):
        with pytest.raises(ParseError) as e:
            yamlsafe.load("a: *nope\n", what=what)
        assert e.value.message.startswith(f"{what} is not valid YAML")


def test_a_document_marshal_cannot_copy_is_parsed_anew_each_time(monkeypatch):
    import datetime

    parsed = _counting_parses(monkeypatch)
    text = "at: 2026-02-01 10:00:00\n"
    for _ in range(2):
        assert yamlsafe.load(text, what="x") == {"at": datetime.datetime(2026, 2, 1, 10, 0)}
    assert len(parsed) == 3  # the try to keep it, then each load
