from __future__ import annotations

import yaml

from kubectl_prefect_rollback import kubeconfig


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
    assert kubeconfig.context_namespace(str(tmp_path / "missing"), None) is None


def test_merged_kubeconfig_env_first_file_wins(tmp_path, monkeypatch) -> None:
    first = write(tmp_path / "a", "prod", {"prod": "first"})
    second = write(tmp_path / "b", "other", {"prod": "second", "other": "o"})
    monkeypatch.setenv("KUBECONFIG", f"{first}:{second}")
    assert kubeconfig.context_namespace(None, None) == "first"
    assert kubeconfig.context_namespace(None, "other") == "o"
