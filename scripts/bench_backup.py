#!/usr/bin/env python3
"""Benchmark: backup and restore throughput through kubesim, and the plugin's memory while streaming.

One kubesim, the fixture app on a real PostgreSQL (PREFECT_ROLLBACK_PG_URL), nebula filled with
--megabytes of random (incompressible) bytes. Times `backup DIR` and `restore --from DIR --yes` and
samples the plugin process's resident memory (VmRSS, VmHWM from /proc) while each runs: a plugin that
streams stays flat whatever the size; one that buffered would grow by the dump's size.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kubesim.tools import find_tool  # noqa: E402
from testbed.builder import PG_CLIENT_REF  # noqa: E402
from testbed.cluster import PLUGIN, App, Cluster  # noqa: E402


def fill(app: App, megabytes: int) -> int:
    from sqlalchemy import create_engine, pool, text

    engine = create_engine(app.host_urls["nebula"], poolclass=pool.NullPool)
    with engine.begin() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS pgcrypto"))
        conn.execute(text("CREATE TABLE bench_blob (id int PRIMARY KEY, b bytea)"))
        conn.execute(text("ALTER TABLE bench_blob ALTER COLUMN b SET STORAGE EXTERNAL"))
        conn.execute(
            text("INSERT INTO bench_blob SELECT g, gen_random_bytes(1024) FROM generate_series(1, :n) g"),
            {"n": megabytes * 1024},
        )
    with engine.connect() as conn:
        size = int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())
    engine.dispose()
    return size


def sampled(app: App, *args: str) -> tuple[float, int, int, str]:
    """(seconds, peak RSS kB, max VmRSS kB seen, stderr) of one plugin run."""
    p = subprocess.Popen(
        [PLUGIN, *args, "--namespace", app.namespace],
        env=app.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    peak = {"hwm": 0, "rss": 0}

    def watch() -> None:
        while p.poll() is None:
            try:
                status = Path(f"/proc/{p.pid}/status").read_text()
            except OSError:
                return
            for line in status.splitlines():
                key, _, value = line.partition(":")
                if key in ("VmHWM", "VmRSS"):
                    k = "hwm" if key == "VmHWM" else "rss"
                    peak[k] = max(peak[k], int(value.split()[0]))
            time.sleep(0.02)

    t0 = time.monotonic()
    th = threading.Thread(target=watch, daemon=True)
    th.start()
    _, err = p.communicate(timeout=3600)
    seconds = time.monotonic() - t0
    th.join()
    if p.returncode:
        raise SystemExit(f"{' '.join(args)} exited {p.returncode}:\n{err}")
    return seconds, peak["hwm"], peak["rss"], err


def exec_cat(app: App, cluster: Cluster, dump: Path) -> float:
    """The stream alone, without pg_dump: `kubectl exec <server pod> -- cat` of the same file through
    the plugin's proc.pipe into a backup_dir.Writer, exactly the path a dump takes."""
    from kubectl_prefect_rollback import backup_dir, proc

    shutil.copy(dump, cluster.data_root / app.namespace / "transport.bin")
    pods = json.loads(
        app.kubectl("get", "pods", "-l", "app.kubernetes.io/component=server", "-o", "json").stdout
    )
    pod = pods["items"][0]["metadata"]["name"]
    out = Path(tempfile.mkdtemp(prefix="bench-transport-"))
    writer = backup_dir.Writer(out, "transport")
    argv = ["kubectl", "exec", "--namespace", app.namespace, pod, "--container", "server", "--",
            "cat", f"/data/{app.namespace}/transport.bin"]  # fmt: skip
    saved = dict(os.environ)
    os.environ.update(app.env)
    try:
        t0 = time.monotonic()
        proc.pipe(*argv, sink=writer.write, timeout=3600, bound="bench")
        seconds = time.monotonic() - t0
    finally:
        os.environ.clear()
        os.environ.update(saved)
    writer.commit()
    assert writer.size == dump.stat().st_size
    shutil.rmtree(out)
    return round(writer.size / 1e6 / seconds, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--megabytes", type=int, default=220)
    args = ap.parse_args()
    pg_url = os.environ.get("PREFECT_ROLLBACK_PG_URL")
    if not pg_url:
        raise SystemExit("PREFECT_ROLLBACK_PG_URL is not set")
    work = Path(tempfile.mkdtemp(prefix="bench-backup-"))
    cluster = Cluster.start(work)
    try:
        kubectl, helm = find_tool("kubectl", "1.32"), find_tool("helm", "4.1.4")
        app = cluster.app("bench-backup", kubectl=kubectl, helm=helm, pg_url=pg_url)
        app.install("1.2.0")
        app.install("1.3.0")
        db_size = fill(app, args.megabytes)
        idle = sampled(app, "history")
        folder = work / "backup"
        b = sampled(app, "backup", str(folder), "--backup-image", PG_CLIENT_REF)
        manifest = json.loads((folder / "backup.json").read_text())
        dump = manifest["databases"]["nebula"]["size"]
        total = sum(e["size"] for e in manifest["databases"].values())
        transport = exec_cat(app, cluster, folder / "nebula.dump")
        r = sampled(app, "restore", "--from", str(folder), "--yes", "--backup-image", PG_CLIENT_REF)
        result = {
            "nebula_database_bytes": db_size,
            "nebula_dump_bytes": dump,
            "all_dumps_bytes": total,
            "backup_seconds": round(b[0], 2),
            "backup_MB_per_s": round(total / 1e6 / b[0], 1),
            "transport_only_MB_per_s": transport,
            "restore_seconds": round(r[0], 2),
            "restore_MB_per_s": round(total / 1e6 / r[0], 1),
            "plugin_peak_rss_kB": {"history (baseline)": idle[1], "backup": b[1], "restore": r[1]},
            "per_database_lines": [x for x in (b[3] + r[3]).splitlines() if "MB/s" in x],
        }
        print(json.dumps(result, indent=2))
        app.drop()
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)  # the dumps: hundreds of MB


if __name__ == "__main__":
    main()
