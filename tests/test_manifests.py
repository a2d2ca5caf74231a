"""Manifest transforms against golden files (STYLE idiom 3), plus the probe pod, redaction and names."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from kubectl_prefect_rollback import downgrade, errors, manifests, migrations
from kubectl_prefect_rollback.rewrite import classify

CASES = Path(__file__).parent / "data" / "manifests"
NAME = "customer-managed-downgrade-to-1-2-0"
LABELS = {"app.kubernetes.io/managed-by": "kubectl-prefect-rollback"}
ANNOTATIONS = {"prefect-rollback/to-version": "1.2.0"}


def render(case: str) -> list[dict]:
    return [d.manifest for d in render_jobs(case)]


def render_jobs(case: str) -> list[manifests.DowngradeJob]:
    params = yaml.safe_load((CASES / case / "targets.yaml").read_text())
    text = (CASES / case / "input.yaml").read_text()
    jobs = manifests.migration_jobs(text, **({"source": params["source"]} if "source" in params else {}))
    before = copy.deepcopy(jobs)
    try:
        return manifests.downgrade_jobs(
            jobs, params["targets"], name=NAME, labels=LABELS, annotations=ANNOTATIONS
        )
    finally:
        assert jobs == before, "the input was mutated"


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir() if p.is_dir()))
def test_downgrade_jobs(case: str) -> None:
    error = CASES / case / "error.txt"
    if error.exists():
        kind, pattern = error.read_text().strip().split("\n", 1)
        with pytest.raises(getattr(errors, kind), match=pattern):
            render(case)
        return
    want = [d for d in yaml.safe_load_all((CASES / case / "expected.yaml").read_text()) if d is not None]
    got = render(case)
    assert got == want
    assert list(yaml.safe_load_all(manifests.dump(got))) == (want or [])  # dump round-trips


@pytest.mark.parametrize(
    "case", sorted(p.name for p in CASES.iterdir() if p.is_dir() and not (p / "error.txt").exists())
)
def test_each_downgrade_job_names_the_database_of_each_container_it_rewrote(case: str) -> None:
    """The map the downgrade step follows logs by, made with the Job: the same as reading the Job back."""
    for job in render_jobs(case):
        assert job.databases and job.name == job.manifest["metadata"]["name"]
        assert dict(job.databases) == downgrade.migration_containers(job.manifest)


def test_subchart_given_explicitly() -> None:
    text = (CASES / "subchart_source" / "input.yaml").read_text()
    jobs = manifests.migration_jobs(text, "charts/legacy/templates/db-migration-job.yaml")
    assert [j["metadata"]["name"] for j in jobs] == ["legacy-migrations"]
    assert [j["metadata"]["name"] for j in manifests.migration_jobs(text)] == ["db-migrations"]


def test_load_documents_keeps_sources_and_skips_empty() -> None:
    docs = manifests.load_documents((CASES / "several_jobs" / "input.yaml").read_text())
    assert [(s, d["metadata"]["name"]) for s, d in docs] == [
        ("prefect-cloud/templates/db-migration-job.yaml", "migrations"),
        ("prefect-cloud/templates/db-migration-job.yaml", "nebula-db-migrations"),
        ("prefect-cloud/templates/db-migration-job.yaml", "orion-db-migrations"),
        ("prefect-cloud/templates/db-migration-job.yaml", "events-db-migrations"),
        ("prefect-cloud/templates/cleanup-job.yaml", "cleanup"),
    ]
    assert manifests.load_documents("---\n# just a comment\n---\n") == []
    assert manifests.load_documents("kind: Job\n") == [(None, {"kind": "Job"})]


@pytest.mark.parametrize("text", ["kind: [unclosed\n", "- a\n- b\n", "just text\n"])
def test_load_documents_malformed(text: str) -> None:
    with pytest.raises(errors.ParseError, match="document 1 of the manifest"):
        manifests.load_documents(text)


@pytest.mark.parametrize(
    "value, want",
    [
        (["prefect-cloud", "nebula", "database", "upgrade"], ("nebula",)),
        (["/usr/local/bin/prefect-cloud", "events", "database", "upgrade", "-y"], ("events",)),
        (["prefect", "orion", "upgrade"], ("orion",)),
        (["prefect-cloud", "self-managed", "update-orion"], ("orion",)),
        (["orion", "database", "upgrade"], ("orion",)),
        (["prefect-cloud", "nebula", "database", "downgrade", "-r", "x"], ()),
        (["prefect-cloud", "nebula", "database", "upgrades"], ()),
        (["prefect-cloud", "orion", "database", "stamp", "head"], ()),
        (["istio-proxy", "proxy", "sidecar"], ()),
        (["sh", "-c", "prefect nebula upgrade\nprefect-cloud events database upgrade"], ("nebula", "events")),
        (["/bin/bash", "-o", "pipefail", "-ec", "exec prefect-cloud orion database upgrade"], ("orion",)),
        (["sh", "-c", "echo 'prefect-cloud orion database upgrade'"], ()),
        (["sh", "-c", "# prefect-cloud orion database upgrade\ntrue"], ()),
        (["sh", "script.sh"], ()),
        (
            "set -e\nprefect-cloud nebula database upgrade -y && prefect-cloud self-managed update-orion",
            ("nebula", "orion"),
        ),
        ("notprefect-cloud nebula database upgrade", ()),
        ([], ()),
    ],
)
def test_classify(value, want) -> None:
    assert classify(value) == want


def test_downgrade_refuses_implausible_targets() -> None:
    jobs = manifests.migration_jobs((CASES / "sh_c_script" / "input.yaml").read_text())
    with pytest.raises(errors.BadInput, match="not a plausible Alembic revision id"):
        manifests.downgrade_jobs(
            jobs, {"nebula": "$(rm -rf /)", "orion": None}, name=NAME, labels=LABELS, annotations={}
        )


def test_several_jobs_for_the_same_database_are_numbered() -> None:
    job = manifests.migration_jobs((CASES / "argv_list" / "input.yaml").read_text())[0]
    out = manifests.downgrade_jobs(
        [job, job], {"nebula": "aaaaaaaaaaa1"}, name="x" * 62, labels={}, annotations={}
    )
    names = [j.name for j in out]
    assert len(set(names)) == 2 and all(len(n) <= 63 and re.fullmatch(r"[a-z0-9-]+", n) for n in names)
    assert names[0].startswith("x" * 50) and names != ["x" * 62 + "-1", "x" * 62 + "-2"]


@pytest.mark.parametrize(
    "release, version, want",
    [
        ("customer-managed", "1.2.0", "customer-managed-downgrade-to-1-2-0"),
        ("Prefect_Cloud", "1.2.0-rc.1+build.5", "prefect-cloud-downgrade-to-1-2-0-rc-1-build-5"),
    ],
)
def test_job_name(release: str, version: str, want: str) -> None:
    assert manifests.job_name(release, version) == want


def test_job_name_long_is_truncated_with_a_hash() -> None:
    a = manifests.job_name("r" * 60, "1.2.0")
    b = manifests.job_name("r" * 60, "1.2.1")
    assert len(a) == 63 and len(b) == 63 and a != b and a == manifests.job_name("r" * 60, "1.2.0")
    assert re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", a)


def probe_job() -> dict:
    return manifests.migration_jobs((CASES / "istio_sidecar" / "input.yaml").read_text())[0]


def test_probe_pod() -> None:
    job = probe_job()
    job["metadata"]["namespace"] = "customer-managed"
    job["spec"]["template"]["spec"]["imagePullSecrets"] = [{"name": "artifact-registry"}]
    before = copy.deepcopy(job)
    script = migrations.listing_script()
    pod = manifests.probe_pod(job, name="customer-managed-probe-1-2-0", script=script, labels=LABELS)
    assert job == before
    assert pod == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "customer-managed-probe-1-2-0",
            "namespace": "customer-managed",
            "labels": LABELS,
            "annotations": {"sidecar.istio.io/inject": "false"},
        },
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "probe",
                    "image": "server:1.3.0",
                    "env": job["spec"]["template"]["spec"]["containers"][0]["env"],
                    "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                    "command": ["sh", "-c", script],
                }
            ],
            "serviceAccountName": "prefect-server",
            "volumes": [{"name": "tmp", "emptyDir": {}}],
            "imagePullSecrets": [{"name": "artifact-registry"}],
        },
    }


def test_probe_pod_from_a_script_container_uses_its_image() -> None:
    job = manifests.migration_jobs((CASES / "init_containers" / "input.yaml").read_text())[0]
    pod = manifests.probe_pod(job, name="p", script="true", labels={})
    assert pod["spec"]["containers"][0]["image"] == "server:1.3.0"  # not the wait-for-db busybox
    assert "initContainers" not in pod["spec"]


def test_probe_pod_without_migration_container() -> None:
    job = manifests.migration_jobs((CASES / "no_match" / "input.yaml").read_text())[0]
    with pytest.raises(
        errors.ParseError, match="db-migrations has no container that runs a database upgrade"
    ):
        manifests.probe_pod(job, name="p", script="true", labels={})


def test_redact() -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "data": {"password": "c2VjcmV0"},
        "stringData": {"k": "v"},
    }
    assert manifests.redact(secret)["data"] == {"password": "<redacted>"}
    assert manifests.redact(secret)["stringData"] == {"k": "<redacted>"}
    job = probe_job()
    env = job["spec"]["template"]["spec"]["containers"][0]["env"]
    env += [
        {"name": "PREFECT_API_KEY", "value": "pnu_abc"},
        {"name": "GITHUB_TOKEN", "value": "ghp_x"},
        {"name": "SENTRY_DSN", "value": "https://k@sentry.io/1"},
        {"name": "DATABASE_URL", "value": "postgresql+asyncpg://prefect:hunter2@db:5432/orion"},
        {"name": "LOG_LEVEL", "value": "INFO"},
    ]
    job["spec"]["template"]["spec"]["containers"][1]["args"] = ["--url", "redis://:p4ss@redis:6379/0"]
    before = copy.deepcopy(job)
    out = manifests.redact(job)
    assert job == before
    got = {
        e["name"]: e.get("value", e.get("valueFrom"))
        for e in out["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert got == {
        "PREFECT_REDIS_CACHE_HOST": "redis-cache",
        "PREFECT_ORION_DATABASE_PASSWORD": {"secretKeyRef": {"name": "orion-db", "key": "password"}},
        "PREFECT_API_KEY": "<redacted>",
        "GITHUB_TOKEN": "<redacted>",
        "SENTRY_DSN": "<redacted>",
        "DATABASE_URL": "postgresql+asyncpg://prefect:<redacted>@db:5432/orion",
        "LOG_LEVEL": "INFO",
    }
    assert out["spec"]["template"]["spec"]["containers"][1]["args"] == [
        "--url",
        "redis://:<redacted>@redis:6379/0",
    ]
    assert "hunter2" not in manifests.dump([out]) and "p4ss" not in manifests.dump([out])


def test_dump_is_stable_and_readable() -> None:
    docs = render("sh_c_script")
    text = manifests.dump(docs + docs)
    assert text.count("---\n") == 1
    assert text.startswith("apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: " + NAME)
    assert "- |\n" in text and "prefect-cloud nebula database downgrade -r 9c1e02b7d4aa\n" in text
    assert manifests.dump(docs) == manifests.dump(copy.deepcopy(docs))
