"""preflight.check_plan: the dry run of the plan's downgrade Jobs, its warnings placed where plan put them."""

from __future__ import annotations

from dataclasses import replace

from kubectl_prefect_rollback import plan, preflight
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
