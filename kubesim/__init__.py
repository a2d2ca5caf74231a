"""kubesim: a simulated Kubernetes control plane that the real kubectl and helm talk to (see README.md)."""

from .harness import KubeSim

__all__ = ["KubeSim"]
