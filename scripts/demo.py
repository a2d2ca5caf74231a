#!/usr/bin/env python3
"""`make demo`: a real rollback on the embedded kubesim cluster.

Starts kubesim with the Prefect-like fixture app (SQLite databases), installs chart 1.2.0, upgrades to
1.3.0 (the databases follow), then runs the plugin as an operator would — revisions, plan, rollback,
revisions — and checks the databases really went back. Exits non-zero if anything went wrong.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kubesim.tools import find_tool  # noqa: E402
from testbed import app as fixture  # noqa: E402
from testbed.cluster import Cluster  # noqa: E402


def banner(text: str) -> None:
    print(f"\n\033[1m$ {text}\033[0m" if sys.stdout.isatty() else f"\n$ {text}", flush=True)


def main() -> int:
    kubectl = find_tool("kubectl", "1.32") or shutil.which("kubectl")
    helm = find_tool("helm", "4.1.4") or find_tool("helm", "3.17.3") or shutil.which("helm")
    if not (kubectl and helm and shutil.which("bwrap")):
        print(
            "demo needs kubectl, helm and bwrap: run `make tools` (scripts/install-test-tools.sh)",
            file=sys.stderr,
        )
        return 1
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="prefect-rollback-demo-"))
    cluster = Cluster.start(work)
    try:
        app = cluster.app("customer-managed", kubectl=kubectl, helm=helm)
        print(f"kubesim at {cluster.sim.url}; kubectl {kubectl}; helm {helm}", flush=True)
        for version in ("1.2.0", "1.3.0"):
            banner(
                f"helm upgrade --install customer-managed prefect-cloud-{version}.tgz "
                f"-f values-{version}.yaml --wait"
            )
            app.install(version)
            print(f"databases now at {app.heads()}", flush=True)

        env = {**app.env, "KUBECONFIG": app.env["KUBECONFIG"]}
        env.pop("NO_COLOR", None)
        charts = cluster.paths.charts_dir  # the vendor's tarballs sit next to the operator
        for args in (
            ["revisions"],
            ["plan", "--to", "1.2.0"],
            ["rollback", "--to", "1.2.0", "--yes"],
            ["revisions"],
        ):
            banner(" ".join(["kubectl", "prefect-rollback", *args, "-n", app.namespace]))
            subprocess.run(
                ["kubectl", "prefect-rollback", *args, "-n", app.namespace],
                env=env,
                cwd=charts,
                stdin=subprocess.DEVNULL,
                check=True,
                timeout=600,
            )

        heads = app.heads()
        want = fixture.release_heads("1.2.0")
        if heads != want:
            print(f"\ndemo FAILED: databases at {heads}, expected {want}", file=sys.stderr)
            return 1
        print(
            f"\nDatabases read back directly: {heads} (the 1.2.0 heads). "
            f"Demo finished in {time.monotonic() - started:.0f}s."
        )
        return 0
    except subprocess.CalledProcessError as e:
        print(f"\ndemo FAILED: `{' '.join(map(str, e.cmd))}` exited {e.returncode}", file=sys.stderr)
        return 1
    except AssertionError as e:
        print(f"\ndemo FAILED: {e}", file=sys.stderr)
        return 1
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    sys.exit(main())
