"""Where the plugin points: one value that every kubectl and helm argv is built from."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    namespace: str
    context: str | None = None
    kubeconfig: str | None = None
    kubectl: str = "kubectl"
    helm: str = "helm"

    def kubectl_flags(self) -> tuple[str, ...]:
        return (
            *(("--kubeconfig", self.kubeconfig) if self.kubeconfig else ()),
            *(("--context", self.context) if self.context else ()),
            "--namespace",
            self.namespace,
        )

    def helm_flags(self) -> tuple[str, ...]:
        return (
            *(("--kubeconfig", self.kubeconfig) if self.kubeconfig else ()),
            *(("--kube-context", self.context) if self.context else ()),
            "--namespace",
            self.namespace,
        )


def default_binaries(env: os._Environ[str] | dict[str, str] = os.environ) -> tuple[str, str]:
    """kubectl and helm as the operator launched us: KUBECTL_PATH (kubectl plugin), HELM_BIN (helm plugin)."""
    return env.get("KUBECTL_PATH") or "kubectl", env.get("HELM_BIN") or "helm"
