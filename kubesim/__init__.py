"""kubesim: a simulated Kubernetes control plane that the real kubectl and helm talk to (see README.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .harness import KubeSim

__all__ = ["KubeSim"]


def __getattr__(name: str) -> object:
    """KubeSim on first use: the harness imports aiohttp (~0.3 s of CPU), which every pytest process
    would otherwise pay through the fixture plugin and `kubesim.tools`, even in a run without kubesim."""
    if name == "KubeSim":
        from .harness import KubeSim

        return KubeSim
    raise AttributeError(f"module 'kubesim' has no attribute {name!r}")
