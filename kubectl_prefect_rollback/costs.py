"""What a command cost: how many processes it started and how long it waited on the cluster.

Benchmarks, tests and the rollback report read these: the time spent waiting for Jobs, pods and helm
is the cluster's, not the plugin's own overhead. proc.py counts the spawns; every wait marks itself.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass
class Stats:
    spawns: int = 0
    waited: float = 0.0
    _active: int = 0
    _since: float = 0.0


stats = Stats()
_lock = threading.Lock()


@contextlib.contextmanager
def waiting() -> Iterator[None]:
    """Mark time spent waiting on the cluster. Waits that overlap (parallel reads) count once."""
    with _lock:
        if stats._active == 0:
            stats._since = time.monotonic()
        stats._active += 1
    try:
        yield
    finally:
        with _lock:
            stats._active -= 1
            if stats._active == 0:
                stats.waited += time.monotonic() - stats._since
