"""The failure the plugin exists to prevent: rolling the chart back without downgrading the databases
leaves the older servers unable to start ("Can't locate revision")."""

from __future__ import annotations

import json
import time

from testbed import app as fixture
from testbed.cluster import RELEASE


def test_helm_rollback_alone_breaks_the_older_servers(at_130) -> None:
    app = at_130(helm="3.17.3")
    app.helm("rollback", RELEASE, "1")  # revision 1 ran 1.2.0; no pre-upgrade hook runs on rollback
    deadline = time.monotonic() + 120
    logs = ""
    while time.monotonic() < deadline:
        pods = json.loads(app.kubectl("get", "pods", "-o", "json").stdout)["items"]
        olds = [
            p["metadata"]["name"]
            for p in pods
            if any(c["image"] == fixture.server_ref("1.2.0") for c in p["spec"]["containers"])
        ]
        for pod in olds:
            logs = app.kubectl("logs", pod, "-c", "server", check=False).stdout
            if "Can't locate revision" in logs:
                break
        if "Can't locate revision" in logs:
            break
        time.sleep(1)
    assert "Can't locate revision identified by" in logs
    assert app.heads() == fixture.release_heads("1.3.0"), "the databases stayed ahead of the servers"
