"""manifests: reading helm's multi-document YAML, the migration Job, the probe pod, redaction, dump.

The downgrade Jobs made from them are tested in test_job_rewrite.py."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from kubectl_prefect_rollback import errors, manifests, migrations
from kubectl_prefect_rollback.rewrite import classify
from tests.test_job_rewrite import render  # sample documents for dump: downgrade Jobs

CASES = Path(__file__).parent / "data" / "manifests"
NAME = "customer-managed-downgrade-to-1-2-0"
LABELS = {"app.kubernetes.io/managed-by": "kubectl-prefect-rollback"}
ANNOTATIONS = {"prefect-rollback/to-version": "1.2.0"}


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
