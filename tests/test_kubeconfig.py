from __future__ import annotations

import pytest
import yaml

from kubectl_prefect_rollback import kubeconfig
from kubectl_prefect_rollback.errors import BadInput, RollbackError


def write(path, current, contexts):
    path.write_text(
        yaml.safe_dump(
            {
                "current-context": current,
                "contexts": [
                    {"name": n, "context": {"cluster": "c", **({"namespace": ns} if ns else {})}}
                    for n, ns in contexts.items()
                ],
            }
        )
    )
    return path


def test_namespace_of_current_or_named_context(tmp_path, monkeypatch) -> None:
    cfg = write(tmp_path / "a", "prod", {"prod": "customer-managed", "dev": None})
    assert kubeconfig.context_namespace(str(cfg), None) == "customer-managed"
    assert kubeconfig.context_namespace(str(cfg), "dev") is None


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (None, "does not exist"),
        ("contexts: [unclosed\n", "is not valid YAML"),
        ("- just\n- a list\n", "is not a YAML mapping"),
        ("contexts: 5\n", "contexts is not a list of mappings"),
        ("a: &x [1]\nb: *x\n", "aliases"),
    ],
    ids=["missing", "broken", "list", "contexts-number", "alias"],
)
def test_explicit_kubeconfig_that_cannot_be_used_is_a_usage_error(tmp_path, text, needle) -> None:
    path = tmp_path / "cfg"
    if text is not None:
        path.write_text(text)
    with pytest.raises(BadInput, match=needle):  # never a silent fall back to namespace `default`
        kubeconfig.context_namespace(str(path), None)


def test_unreadable_env_kubeconfig_is_an_error_missing_entries_are_skipped(tmp_path, monkeypatch) -> None:
    good = write(tmp_path / "a", "prod", {"prod": "first"})
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'missing'}:{good}")
    assert kubeconfig.context_namespace(None, None) == "first"  # like kubectl: missing files are skipped
    (tmp_path / "bad").write_text("{{{")
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'bad'}:{good}")
    with pytest.raises(RollbackError, match="bad is not valid YAML"):
        kubeconfig.context_namespace(None, None)


def test_merged_kubeconfig_env_first_file_wins(tmp_path, monkeypatch) -> None:
    first = write(tmp_path / "a", "prod", {"prod": "first"})
    second = write(tmp_path / "b", "other", {"prod": "second", "other": "o"})
    monkeypatch.setenv("KUBECONFIG", f"{first}:{second}")
    assert kubeconfig.context_namespace(None, None) == "first"
    assert kubeconfig.context_namespace(None, "other") == "o"
