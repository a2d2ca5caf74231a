"""The migration listing in images that are not Debian-with-everything (kubesim "base": "libs" images:
the host's libraries only): no awk, busybox sh only, no shell at all (Python only). The plan reads the
running server pod (kubectl exec) and a probe pod of the target image, and chooses the way by itself."""

from __future__ import annotations

import json
import sys

import pytest

from testbed import app as fixture

# the `#via` line each image's listing names (shown with -v)
VIA = {
    "noawk": f"via sh+python {sys.executable}",  # the prefect-cloud launcher's shebang
    "busybox": "via sh+awk",  # busybox sh and its awk applet
    "distroless": "via python python3",  # `sh` is missing: python3 -c, one more exec / probe pod
}


@pytest.mark.parametrize("variant", sorted(VIA))
def test_plan_lists_the_chains_in_a_minimal_image(make_app, variant: str) -> None:
    app = make_app()
    shell = {"migrations": {"shell": "none"}} if variant == "distroless" else {}
    for version in ("1.2.0", "1.3.0"):
        app.install(version, image={"tag": f"{version}-{variant}"}, **shell)
    assert app.heads() == fixture.release_heads("1.3.0")

    done = app.plugin("plan", "--to", "1.2.0", "--chart", app.chart("1.2.0"), "-o", "json", "-v")

    doc = json.loads(done.stdout)
    reverted = fixture.reverted("1.3.0", "1.2.0")
    for db in fixture.DATABASES:
        entry = doc["databases"][db]
        assert (entry["current"], entry["target"]) == (
            fixture.release_heads("1.3.0")[db],
            fixture.release_heads("1.2.0")[db],
        )
        assert [m["revision"] for m in entry["revert"]] == reverted[db]
    # both listings (the server pod's exec and the 1.2.0 probe pod) went the image's way, and said so
    assert done.stderr.count(VIA[variant]) >= 2, done.stderr
    if variant == "distroless":
        assert "sh is not in container server" in done.stderr and "the probe image has no sh" in done.stderr
