"""backup_pod / backup_dir / backup_plan: the dump pod, its scripts (run here with stand-in pg_dump and
psql), the folder and the confirmation rules. The real thing runs in tests/e2e/test_backup.py."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from kubectl_prefect_rollback import backup_dir, backup_plan, backup_pod, records
from kubectl_prefect_rollback.errors import BadInput, Refused

DATA = Path(__file__).parent / "data"


def job() -> dict:
    text = (DATA / "fake" / "release" / "db-migration-job.yaml").read_text().replace("@VERSION@", "1.3.0")
    return next(d for d in yaml.safe_load_all(text) if d)


def spec() -> backup_pod.PodSpec:
    return backup_pod.PodSpec("cm-backup-nebula-abc", "registry.local/library/postgres:client", 3600)


# -- the pod ----------------------------------------------------------------------------------------


def test_dump_pod_is_the_databases_migration_container_with_the_client_image() -> None:
    pod = backup_pod.dump_pod(
        job(), "nebula", spec(), {"app.kubernetes.io/managed-by": "kubectl-prefect-rollback"}
    )
    s = pod["spec"]
    (c,) = s["containers"]
    assert c["image"] == "registry.local/library/postgres:client"
    assert c["env"] == job()["spec"]["template"]["spec"]["containers"][0]["env"]  # same env, same secret refs
    assert c["envFrom"] == [{"secretRef": {"name": "nebula-db"}}]
    assert s["serviceAccountName"] == "prefect-cloud" and s["imagePullSecrets"] == [
        {"name": "registry-local"}
    ]
    assert s["restartPolicy"] == "Never" and s["activeDeadlineSeconds"] == 3660
    assert "sleep 3600" in c["command"][-1]
    assert pod["metadata"]["labels"]["prefect-rollback/role"] == "backup"
    assert pod["metadata"]["annotations"]["sidecar.istio.io/inject"] == "false"


def test_dump_pod_of_orion_is_built_from_the_orion_container_not_the_first() -> None:
    j = job()
    j["spec"]["template"]["spec"]["containers"][1]["env"] = [{"name": "ORION_DATABASE_URL", "value": "x"}]
    pod = backup_pod.dump_pod(j, "orion", spec(), {})
    assert pod["spec"]["containers"][0]["env"] == [{"name": "ORION_DATABASE_URL", "value": "x"}]


def test_sidecars_stay_out_of_the_dump_pod() -> None:
    j = job()
    j["spec"]["template"]["spec"]["containers"].append(
        {"name": "istio-proxy", "image": "istio/proxyv2:1.0", "command": ["pilot-agent"]}
    )
    pod = backup_pod.dump_pod(j, "events", spec(), {})
    assert [c["name"] for c in pod["spec"]["containers"]] == ["probe"]


def test_a_container_without_the_variable_is_refused_before_any_pod() -> None:
    orion = job()["spec"]["template"]["spec"]["containers"][1]
    with pytest.raises(Refused) as e:
        backup_pod.check_env(orion, "orion", "ORION_DATABASE_URL")
    assert "sets no ORION_DATABASE_URL" in e.value.message and "--database-url-env orion=NAME" in e.value.hint
    backup_pod.check_env(
        {"name": "x", "envFrom": [{"secretRef": {"name": "s"}}]}, "orion", "ORION_DATABASE_URL"
    )


def test_database_url_env_overrides_one_default_and_rejects_garbage() -> None:
    got = backup_pod.parse_url_env(("nebula=PREFECT_NEBULA_DATABASE_CONNECTION_URL",))
    assert got == {
        "nebula": "PREFECT_NEBULA_DATABASE_CONNECTION_URL",
        "orion": "ORION_DATABASE_URL",
        "events": "EVENTS_DATABASE_URL",
    }
    for bad in ("nebula", "redis=X", "nebula=1X", "nebula=$(id)"):
        with pytest.raises(BadInput):
            backup_pod.parse_url_env((bad,))


# -- the scripts, with stand-ins for pg_dump and psql -------------------------------------------------

DUMP = bytes(range(256)) * 300 + b"\r\n\x00"


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    d = tmp_path / "bin"
    d.mkdir()
    (tmp_path / "dump.bin").write_bytes(DUMP)
    (d / "pg_dump").write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/pg_dump.argv\ncat {tmp_path}/dump.bin\n')
    (d / "psql").write_text("#!/bin/sh\nprintf 'abc123\\ndef456\\n'\n")
    (d / "pg_restore").write_text(
        f'#!/bin/sh\necho "$@" > {tmp_path}/pg_restore.argv\ncat > {tmp_path}/restored\n'
    )
    for f in d.iterdir():
        f.chmod(0o755)
    return d


def run_script(
    script: str, bin_dir: Path, env: dict[str, str], stdin: bytes = b""
) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["sh", "-c", script, "sh", "NEBULA_DATABASE_URL"],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", **env},
        input=stdin,
        capture_output=True,
        timeout=30,
    )


def test_dump_script_streams_the_dump_unchanged_and_reports_its_size_and_sha256(bin_dir, tmp_path) -> None:
    url = "postgresql+psycopg://nebula:s3cret-pw@db:5432/nebula"
    p = run_script(backup_pod.DUMP_SCRIPT, bin_dir, {"NEBULA_DATABASE_URL": url})
    assert p.returncode == 0, p.stderr
    assert p.stdout == DUMP
    trailer = backup_pod.parse_trailer(p.stderr.decode())
    assert trailer == backup_pod.Trailer("abc123,def456", 0, len(DUMP), hashlib.sha256(DUMP).hexdigest())
    assert (tmp_path / "pg_dump.argv").read_text().split() == [
        "--format=custom",
        "--dbname=postgresql://nebula:s3cret-pw@db:5432/nebula",  # libpq's scheme, not SQLAlchemy's
    ]
    assert b"s3cret" not in p.stderr


def test_dump_script_refuses_a_missing_or_non_postgresql_setting_without_echoing_it(bin_dir) -> None:
    p = run_script(backup_pod.DUMP_SCRIPT, bin_dir, {})
    assert p.returncode == backup_pod.NO_ENV and p.stdout == b""
    assert (
        backup_pod.parse_trailer(p.stderr.decode()).refused
        == "NEBULA_DATABASE_URL is not set in the container"
    )
    p = run_script(backup_pod.DUMP_SCRIPT, bin_dir, {"NEBULA_DATABASE_URL": "mysql://u:topsecret@h/db"})
    assert p.returncode == backup_pod.NOT_POSTGRES and b"topsecret" not in p.stderr
    p = run_script(backup_pod.DUMP_SCRIPT, bin_dir, {"NEBULA_DATABASE_URL": "sqlite:////data/nebula.db"})
    assert "SQLite URL" in backup_pod.parse_trailer(p.stderr.decode()).refused


def test_dump_script_passes_pg_dumps_failure_on(bin_dir) -> None:
    (bin_dir / "pg_dump").write_text(
        "#!/bin/sh\nprintf partial\necho 'pg_dump: error: connection refused' >&2\nexit 1\n"
    )
    p = run_script(backup_pod.DUMP_SCRIPT, bin_dir, {"NEBULA_DATABASE_URL": "postgresql://u@h/db"})
    assert p.returncode == 1
    assert backup_pod.other_lines(p.stderr.decode()) == "pg_dump: error: connection refused"
    assert backup_pod.parse_trailer(p.stderr.decode()).rc == 1


def test_restore_script_feeds_stdin_to_one_transaction_and_reports_the_heads(bin_dir, tmp_path) -> None:
    p = run_script(
        backup_pod.RESTORE_SCRIPT, bin_dir, {"NEBULA_DATABASE_URL": "postgres://u@h/db"}, stdin=DUMP
    )
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "restored").read_bytes() == DUMP
    argv = (tmp_path / "pg_restore.argv").read_text().split()
    assert {"--clean", "--if-exists", "--single-transaction", "--exit-on-error"} <= set(argv)
    assert backup_pod.parse_trailer(p.stderr.decode()).heads == "abc123,def456"


def test_parse_trailer_without_a_trailer_has_no_size_or_sha() -> None:
    t = backup_pod.parse_trailer("pg_dump: killed\n#prefect-rollback-backup heads=\n")
    assert (t.heads, t.size, t.sha256, t.rc) == (None, None, None, None)


# -- the folder -------------------------------------------------------------------------------------


def test_writer_renames_only_on_commit_and_files_are_private(tmp_path) -> None:
    w = backup_dir.Writer(tmp_path, "nebula")
    w.write(b"PGDMP")
    w.write(b"\x00rest")
    assert not (tmp_path / "nebula.dump").exists()
    w.commit()
    assert (tmp_path / "nebula.dump").read_bytes() == b"PGDMP\x00rest"
    assert w.size == 10 and w.sha256 == hashlib.sha256(b"PGDMP\x00rest").hexdigest()
    assert oct((tmp_path / "nebula.dump").stat().st_mode & 0o777) == "0o600"
    gone = backup_dir.Writer(tmp_path, "orion")
    gone.write(b"half")
    gone.discard()
    assert sorted(os.listdir(tmp_path)) == ["nebula.dump"]


def test_manifest_round_trips_and_a_changed_file_is_refused(tmp_path) -> None:
    (tmp_path / "nebula.dump").write_bytes(b"PGDMP-data")
    entry = backup_dir.Entry(
        "nebula",
        "nebula.dump",
        10,
        hashlib.sha256(b"PGDMP-data").hexdigest(),
        "2026-12-01T12:00:00Z",
        "3fab1acc05c0",
    )
    backup_dir.write_manifest(tmp_path, backup_dir.Manifest("customer-managed", "prefect", "1.3.0", (entry,)))
    got = backup_dir.read_manifest(str(tmp_path))
    assert got.entries == (entry,) and got.version == "1.3.0"
    assert backup_dir.check_file(str(tmp_path), entry) == tmp_path / "nebula.dump"
    (tmp_path / "nebula.dump").write_bytes(b"PGDMP-datX")
    with pytest.raises(Refused, match="changed since it was taken"):
        backup_dir.check_file(str(tmp_path), entry)


def test_a_folder_without_a_manifest_is_not_a_backup(tmp_path) -> None:
    (tmp_path / "backup.json").write_text('{"kind": "Something"}')
    with pytest.raises(Refused, match="is not a backup made by this plugin"):
        backup_dir.read_manifest(str(tmp_path))


def test_an_unwritable_folder_is_refused(tmp_path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(Refused, match="is not writable"):
        backup_dir.prepare(str(tmp_path / "f" / "sub"))


# -- records ----------------------------------------------------------------------------------------


def test_the_backup_key_of_the_records_configmap_is_not_mistaken_for_heads() -> None:
    doc = {"databases": {"nebula": {"file": "nebula.dump", "size": 1, "sha256": "0" * 64}}}
    cm = {
        "metadata": {"name": "customer-managed-prefect-rollback-revisions"},
        "data": {
            "1.3.0": json.dumps({"heads": {"nebula": "3fab1acc05c0"}, "source": "pod", "recorded": "x"}),
            records.BACKUP_KEY: json.dumps(doc),
        },
    }
    assert list(records.parse(cm)) == ["1.3.0"]
    assert records.backup(cm) == doc


# -- confirmation -----------------------------------------------------------------------------------


def plan(destructive: bool) -> SimpleNamespace:
    m = SimpleNamespace(revision="3fab1acc05c0", description="Add service account")
    return SimpleNamespace(destructive=[m] if destructive else [])


class Asked:
    def __init__(self, answer: str) -> None:
        self.answer, self.questions, self.warnings = answer, [], []

    def ask(self, q: str) -> str:
        self.questions.append(q)
        return self.answer

    def warn(self, w: str) -> None:
        self.warnings.append(w)


@pytest.mark.parametrize("interactive", [True, False])
def test_yes_with_a_destructive_plan_needs_a_backup_or_backups_confirmed(interactive: bool) -> None:
    out = Asked("")
    with pytest.raises(Refused) as e:
        backup_plan.confirm(
            plan(True), yes=True, folder=None, confirmed=False, interactive=interactive, out=out
        )
    assert "drop data (3fab1acc05c0 (Add service account))" in e.value.message
    assert "--backup DIR" in e.value.hint and "--backups-confirmed" in e.value.hint
    assert (
        backup_plan.confirm(plan(True), yes=True, folder="d", confirmed=False, interactive=False, out=out)
        == "d"
    )
    assert (
        backup_plan.confirm(plan(True), yes=True, folder=None, confirmed=True, interactive=False, out=out)
        is None
    )
    assert (
        backup_plan.confirm(plan(False), yes=True, folder=None, confirmed=False, interactive=False, out=out)
        is None
    )
    assert out.questions == []


def test_without_yes_or_a_terminal_the_confirmation_refuses_not_the_backup_rule() -> None:
    out = Asked("")
    assert (
        backup_plan.confirm(plan(True), yes=False, folder=None, confirmed=False, interactive=False, out=out)
        is None
    )
    assert out.questions == []


def test_the_prompt_offers_the_backup_for_a_destructive_plan() -> None:
    out = Asked(" /srv/backups ")
    got = backup_plan.confirm(plan(True), yes=False, folder=None, confirmed=False, interactive=True, out=out)
    assert got == "/srv/backups" and "Folder to back the databases up to" in out.questions[0]
    assert (
        backup_plan.confirm(
            plan(True), yes=False, folder=None, confirmed=False, interactive=True, out=Asked("")
        )
        is None
    )


def test_the_databases_spelled_out_here_are_the_migration_modules() -> None:
    from kubectl_prefect_rollback import migrations

    assert backup_pod.DATABASES == migrations.DATABASES


def test_a_rerun_reuses_a_backup_at_the_same_heads_and_refuses_another(tmp_path) -> None:
    from kubectl_prefect_rollback import backup

    assert backup.reusable(str(tmp_path), "customer-managed", {"nebula": "a1"}, ["nebula"]) is None
    (tmp_path / "nebula.dump").write_bytes(b"PGDMP")
    entry = backup_dir.Entry("nebula", "nebula.dump", 5, hashlib.sha256(b"PGDMP").hexdigest(), "t", "a1")
    backup_dir.write_manifest(tmp_path, backup_dir.Manifest("customer-managed", "ns", "1.3.0", (entry,)))
    found = backup.reusable(str(tmp_path), "customer-managed", {"nebula": "a1"}, ["nebula"])
    assert found is not None and found.entries == (entry,)
    with pytest.raises(Refused, match="already holds another backup"):
        backup.reusable(str(tmp_path), "customer-managed", {"nebula": "b2"}, ["nebula"])


def test_sizes_are_shown_in_kb_below_a_megabyte_with_the_rate() -> None:
    assert backup_dir.size_text(27_400) == "27.4 kB"
    assert backup_dir.size_text(264_404_622, 73.0) == "264.4 MB, 3.6 MB/s"
