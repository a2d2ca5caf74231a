"""preflight.check_plan: the dry run of the plan's downgrade Jobs, its warnings placed where plan put them."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kubectl_prefect_rollback import plan, preflight
from kubectl_prefect_rollback.errors import Refused
from kubectl_prefect_rollback.facts import Options
from tests.test_plan import facts


def test_dry_run_warnings_go_after_the_jump_warning_and_before_the_others(monkeypatch) -> None:
    p = replace(
        plan.assemble(facts(), Options(to="1.2.0")), warnings=("jump", "gitops", "drops"), checked_at=1
    )
    seen = []

    def dry_run(t, jobs, *, for_rollback):
        seen.append(([j["metadata"]["name"] for j in jobs], for_rollback))
        return ["job/x not checked"]

    monkeypatch.setattr(preflight, "dry_run_jobs", dry_run)
    checked = preflight.check_plan(facts().target, p, for_rollback=False)
    assert checked.warnings == ("jump", "job/x not checked", "gitops", "drops")
    assert seen == [(["cm-downgrade-to-1-2-0"], False)]
    assert replace(checked, warnings=p.warnings) == p  # nothing else changes


def _dry_run_answering(monkeypatch, stderr: str | None) -> None:
    from kubectl_prefect_rollback import kube, proc

    def create_dry_run(t, job):
        if stderr is not None and "AlreadyExists" in stderr:
            raise kube.Conflict(stderr)  # as kube._write raises it
        if stderr is not None:
            raise proc.CommandError(["kubectl", "create", "--dry-run=server"], 1, stderr)
        return job

    monkeypatch.setattr(kube, "create_dry_run", create_dry_run)


def test_a_job_the_dry_run_accepted_is_marked_validated_for_its_real_apply(monkeypatch) -> None:
    p = plan.assemble(facts(), Options(to="1.2.0"))
    assert [d.validated for d in p.downgrades] == [False]  # the plan alone has not asked the API server
    _dry_run_answering(monkeypatch, None)
    checked = preflight.check_plan(facts().target, p, for_rollback=True)
    assert [d.validated for d in checked.downgrades] == [True]
    assert [d.manifest for d in checked.downgrades] == [d.manifest for d in p.downgrades]


def test_a_job_not_checked_because_our_earlier_job_is_in_the_way_is_validated_again_when_applied(
    monkeypatch,
) -> None:
    p = plan.assemble(facts(), Options(to="1.2.0"))
    exists = 'Error from server (AlreadyExists): jobs.batch "cm-downgrade-to-1-2-0" already exists'
    _dry_run_answering(monkeypatch, exists)
    checked = preflight.check_plan(facts().target, p, for_rollback=True)
    assert [d.validated for d in checked.downgrades] == [False]
    assert checked.warnings == p.warnings


def test_a_dry_run_answer_naming_a_conflict_that_is_not_an_existing_job_refuses_the_plan(monkeypatch) -> None:
    p = plan.assemble(facts(), Options(to="1.2.0"))
    from kubectl_prefect_rollback import kube

    def create_dry_run(t, job):  # kube._write makes any answer naming a conflict a Conflict
        raise kube.Conflict('Error from server (Conflict): admission webhook "quota" denied the request')

    monkeypatch.setattr(kube, "create_dry_run", create_dry_run)
    with pytest.raises(Refused, match="does not pass kubectl create --dry-run=server: .*quota"):
        preflight.check_plan(facts().target, p, for_rollback=True)
