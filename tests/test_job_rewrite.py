"""job_rewrite: the downgrade Jobs made from migration Jobs, against golden files (STYLE idiom 3):
tests/data/manifests/<case>/{input,targets,expected}.yaml, or error.txt for a refusal."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from kubectl_prefect_rollback import downgrade, errors, job_rewrite, manifests

CASES = Path(__file__).parent / "data" / "manifests"
NAME = "customer-managed-downgrade-to-1-2-0"
LABELS = {"app.kubernetes.io/managed-by": "kubectl-prefect-rollback"}
ANNOTATIONS = {"prefect-rollback/to-version": "1.2.0"}


def render(case: str) -> list[dict]:
    return [d.manifest for d in render_jobs(case)]


def render_jobs(case: str) -> list[job_rewrite.DowngradeJob]:
    params = yaml.safe_load((CASES / case / "targets.yaml").read_text())
    text = (CASES / case / "input.yaml").read_text()
    jobs = manifests.migration_jobs(text, **({"source": params["source"]} if "source" in params else {}))
    before = copy.deepcopy(jobs)
    try:
        return job_rewrite.downgrade_jobs(
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


def test_downgrade_refuses_implausible_targets() -> None:
    jobs = manifests.migration_jobs((CASES / "sh_c_script" / "input.yaml").read_text())
    with pytest.raises(errors.BadInput, match="not a plausible Alembic revision id"):
        job_rewrite.downgrade_jobs(
            jobs, {"nebula": "$(rm -rf /)", "orion": None}, name=NAME, labels=LABELS, annotations={}
        )


def test_several_jobs_for_the_same_database_are_numbered() -> None:
    job = manifests.migration_jobs((CASES / "argv_list" / "input.yaml").read_text())[0]
    out = job_rewrite.downgrade_jobs(
        [job, job], {"nebula": "aaaaaaaaaaa1"}, name="x" * 62, labels={}, annotations={}
    )
    names = [j.name for j in out]
    assert len(set(names)) == 2 and all(len(n) <= 63 and re.fullmatch(r"[a-z0-9-]+", n) for n in names)
    assert names[0].startswith("x" * 50) and names != ["x" * 62 + "-1", "x" * 62 + "-2"]
