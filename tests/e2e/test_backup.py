"""Backups for real: pg_dump/pg_restore in a pod built from the migration container, streamed through
kubectl exec, on the fixture's three databases on a real PostgreSQL server."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from testbed import app as fixture
from testbed.builder import PG_CLIENT_REF
from testbed.cluster import PLUGIN, RELEASE, App

TO = "1.2.0"
NO_CONFIRM = {"PREFECT_ROLLBACK_BACKUPS_CONFIRMED": ""}


def rollback(
    app: App, *extra: str, check: bool = True, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return app.plugin(
        "rollback", "--to", TO, "--chart", app.chart(TO), "--yes", "--backup-image", PG_CLIENT_REF, *extra,
        check=check, timeout=timeout, extra_env=NO_CONFIRM,
    )  # fmt: skip


def insert_service_accounts(app: App, n: int) -> None:
    from sqlalchemy import create_engine, pool, text

    engine = create_engine(app.host_urls["nebula"], poolclass=pool.NullPool)
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO service_account (name) SELECT 'sa-' || g FROM generate_series(1, :n) g"),
            {"n": n},
        )
    engine.dispose()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def no_pods_of_ours(app: App) -> bool:
    pods = json.loads(app.kubectl("get", "pods", "-o", "json").stdout)["items"]
    return not [
        p for p in pods if (p["metadata"].get("labels") or {}).get("prefect-rollback/role") == "backup"
    ]


def test_rollback_with_backup_dumps_each_reverted_database_before_any_change(at_130, tmp_path) -> None:
    app = at_130(pg=True)
    insert_service_accounts(app, 50)
    folder = tmp_path / "backups"

    proc = rollback(app, "--backup", str(folder), "--report", str(app.home / "report.json"))

    manifest = json.loads((folder / "backup.json").read_text())
    assert set(manifest["databases"]) == {"nebula", "orion", "events"}
    for db, entry in manifest["databases"].items():
        dump = folder / entry["file"]
        assert dump.stat().st_size == entry["size"] and sha256(dump) == entry["sha256"]
        assert dump.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format, byte for byte
        assert entry["heads"] == fixture.release_heads("1.3.0")[db]
        assert oct(dump.stat().st_mode & 0o777) == "0o600"
    listing = subprocess.run(
        [f"{fixture_pg_bin()}/pg_restore", "--list", str(folder / "nebula.dump")],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "TABLE DATA public service_account" in listing
    records = json.loads(
        app.kubectl("get", "configmap", f"{RELEASE}-prefect-rollback-revisions", "-o", "json").stdout
    )
    named = json.loads(records["data"]["latest-backup"])
    assert named["databases"]["nebula"]["sha256"] == manifest["databases"]["nebula"]["sha256"]
    report = json.loads((app.home / "report.json").read_text())
    assert report["backups"][0]["databases"]["events"]["file"] == "events.dump"
    assert app.heads() == fixture.release_heads(TO)
    for url in app.host_urls.values():  # the connection settings stay in the pod
        assert url.split("://", 1)[1] not in proc.stderr + proc.stdout
    assert no_pods_of_ours(app)


def fixture_pg_bin() -> str:
    from testbed.builder import _pg_bin

    return _pg_bin()


def restore(app: App, folder: Path, *extra: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return app.plugin(
        "restore", "--from", str(folder), "--yes", "--backup-image", PG_CLIENT_REF, *extra,
        check=check, timeout=600,
    )  # fmt: skip


def test_backup_rollback_restore_brings_back_the_dropped_rows_and_the_from_heads(at_130, tmp_path) -> None:
    app = at_130(pg=True)
    insert_service_accounts(app, 500)
    rows = fixture.row_count(app.host_urls["nebula"], "service_account")
    folder = tmp_path / "backups"
    rollback(app, "--backup", str(folder))
    assert "service_account" not in app.tables("nebula"), "the destructive downgrade dropped the table"

    proc = restore(app, folder)

    assert app.heads() == fixture.release_heads("1.3.0")
    assert fixture.row_count(app.host_urls["nebula"], "service_account") == rows
    assert "Restored customer-managed" in proc.stderr
    assert "servers stay scaled down" in proc.stderr  # the release still runs 1.2.0's chart
    deployments = json.loads(app.kubectl("get", "deployments", "-o", "json").stdout)["items"]
    assert all(d["spec"]["replicas"] == 0 for d in deployments if "server" in d["metadata"]["name"])
    assert app.kubectl("get", "lease", f"{RELEASE}-prefect-rollback", "--ignore-not-found").stdout == ""
    assert no_pods_of_ours(app)


# -- a backup that cannot be taken stops the rollback before anything changed -------------------------


def unchanged_state(app: App) -> dict[str, object]:
    """What a rollback changes: the release, the lock, the records, the Jobs, the Deployments, the heads."""
    kinds = ("Deployment", "Job", "Lease", "ConfigMap")
    objects = {k: v for k, v in app.resource_versions().items() if k.split("/")[0] in kinds}
    return {"objects": objects, "release": app.release()["revision"], "heads": app.heads()}


def assert_refused_before_any_change(app: App, proc: subprocess.CompletedProcess[str], before: dict) -> None:
    assert proc.returncode == 3, proc.stderr
    assert unchanged_state(app) == before
    assert no_pods_of_ours(app)


def test_unreachable_database_fails_the_backup_and_nothing_changes(at_130, cluster, tmp_path) -> None:
    import base64

    app = at_130(pg=True)
    secret = cluster.sim.get("Secret", app.namespace, f"{RELEASE}-databases")
    unreachable = app.host_urls["orion"].replace(":5432/", ":5999/")
    secret["data"]["ORION_DATABASE_URL"] = base64.b64encode(unreachable.encode()).decode()
    cluster.sim.seed(secret)  # the running servers keep their env; a new pod reads this
    before = unchanged_state(app)

    proc = rollback(app, "--backup", str(tmp_path / "b"), check=False)

    assert_refused_before_any_change(app, proc, before)
    assert "backup of orion failed" in proc.stderr and "5999" in proc.stderr
    assert not list((tmp_path / "b").glob("*.partial")) and not (tmp_path / "b" / "backup.json").exists()


def test_missing_backup_image_is_refused_and_nothing_changes(at_130, tmp_path) -> None:
    app = at_130(pg=True)
    before = unchanged_state(app)

    proc = rollback(
        app, "--backup", str(tmp_path / "b"), "--backup-image", "registry.local/no/such:1", check=False
    )

    assert_refused_before_any_change(app, proc, before)
    assert "cannot start: ErrImagePull (registry.local/no/such:1)" in proc.stderr
    assert "--backup-image" in proc.stderr


def test_unwritable_backup_folder_is_refused_before_any_pod_starts(at_130, tmp_path) -> None:
    app = at_130(pg=True)
    (tmp_path / "file").write_text("")
    before = unchanged_state(app)

    # a path below a regular file: unwritable for root too (mode bits would not stop root)
    proc = rollback(app, "--backup", str(tmp_path / "file" / "backups"), check=False)

    assert_refused_before_any_change(app, proc, before)
    assert "is not writable: Not a directory" in proc.stderr


def test_full_disk_during_the_dump_fails_the_backup_and_leaves_no_partial_file(at_130, tmp_path) -> None:
    import resource

    app = at_130(pg=True)
    insert_service_accounts(app, 200_000)  # a dump of several MB
    before = unchanged_state(app)
    limit = 256 << 10  # the plugin may write files of at most 256 KiB: a full disk, as its writes see it

    proc = subprocess.run(
        [PLUGIN, "rollback", "--to", TO, "--chart", app.chart(TO), "--yes", "--namespace", app.namespace,
         "--backup-image", PG_CLIENT_REF, "--backup", str(tmp_path / "b")],
        env={**app.env, **NO_CONFIRM}, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)),
    )  # fmt: skip

    assert_refused_before_any_change(app, proc, before)
    assert "backup of nebula: cannot write" in proc.stderr and "File too large" in proc.stderr
    assert list((tmp_path / "b").iterdir()) == []


def test_ctrl_c_during_the_dump_stops_with_nothing_changed(at_130, tmp_path) -> None:
    import signal
    import time

    app = at_130(pg=True)
    insert_service_accounts(app, 2_000_000)  # long enough a dump to be caught in the middle
    before = unchanged_state(app)
    folder = tmp_path / "b"
    p = subprocess.Popen(
        [PLUGIN, "rollback", "--to", TO, "--chart", app.chart(TO), "--yes", "--namespace", app.namespace,
         "--backup-image", PG_CLIENT_REF, "--backup", str(folder)],
        env={**app.env, **NO_CONFIRM}, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    partial = folder / ".nebula.dump.partial"
    deadline = time.monotonic() + 300
    while not (partial.exists() and partial.stat().st_size > 0) and p.poll() is None:
        assert time.monotonic() < deadline, "the dump never started"
        time.sleep(0.05)
    assert p.poll() is None, "the dump finished before it could be interrupted: make it bigger"
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)

    assert p.returncode == 130, err
    assert "Interrupted during the backup: nothing was changed." in err
    assert unchanged_state(app) == before
    assert not partial.exists() and not (folder / "backup.json").exists()
    time.sleep(1)  # the pod's delete was sent without waiting
    assert no_pods_of_ours(app)


def test_yes_without_backup_refuses_a_plan_that_drops_data(at_130) -> None:
    app = at_130()  # SQLite: refused before any backup would be tried
    before = unchanged_state(app)

    proc = rollback(app, check=False)

    assert_refused_before_any_change(app, proc, before)
    assert "drop data" in proc.stderr and "--backups-confirmed" in proc.stderr


def test_backup_command_dumps_all_three_databases_and_prints_the_manifest(at_130, tmp_path) -> None:
    app = at_130(pg=True)
    before = unchanged_state(app)

    proc = app.plugin("backup", str(tmp_path / "b"), "--backup-image", PG_CLIENT_REF)

    doc = json.loads(proc.stdout)
    assert doc == json.loads((tmp_path / "b" / "backup.json").read_text())
    assert {db: e["heads"] for db, e in doc["databases"].items()} == fixture.release_heads("1.3.0")
    assert before["heads"] == app.heads() and before["release"] == app.release()["revision"]
    again = app.plugin("backup", str(tmp_path / "b"), "--backup-image", PG_CLIENT_REF, check=False)
    assert again.returncode == 3 and "already holds a backup" in again.stderr
