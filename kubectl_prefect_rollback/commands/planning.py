"""`plan` and `render`, and the plan options every planning command shares (plan, render, rollback)."""

from __future__ import annotations

from typing import Any

from kubectl_prefect_rollback import facts, helm, manifests, output, plan, preflight, proc, redact, show
from kubectl_prefect_rollback.commands.common import warn_probes
from kubectl_prefect_rollback.commands.config import Config


def options(
    cfg: Config,
    *,
    to: str,
    chart: str,
    target_values: tuple[str, ...],
    nebula_revision: str | None,
    orion_revision: str | None,
    events_revision: str | None,
    pod: str | None,
    selector: str | None,
    container: str | None,
    force: bool,
    ignore_gitops: bool,
    probe_timeout: float | None,
    render_from_chart: bool,
    no_scale_down: bool = False,
    no_wait: bool = False,
    helm_timeout: float | None = None,
) -> plan.Options:
    """The planning flags as plan.Options; --probe-timeout also bounds every probe pod from here on."""
    if probe_timeout:  # config.make set the other limits already
        proc.limits.probe = probe_timeout
    given = {"nebula": nebula_revision, "orion": orion_revision, "events": events_revision}
    return plan.Options(
        to=to,
        release=cfg.release,
        chart=chart,
        target_values=tuple(target_values),
        revisions={db: rev for db, rev in given.items() if rev},
        pod=pod,
        selector=selector,
        container=container,
        force=force,
        ignore_gitops=ignore_gitops,
        render_from_chart=render_from_chart,
        scale_down=not no_scale_down,
        wait=not no_wait,
        helm_timeout=helm_timeout or helm.DEFAULT_TIMEOUT,
    )


def build(cfg: Config, opts: plan.Options, *, for_rollback: bool = False) -> plan.Plan:
    """Gather the facts, assemble the plan from them, dry-run its Jobs on the server."""
    return preflight.check_plan(
        cfg.target, plan.assemble(facts.gather(cfg.target, opts), opts), for_rollback=for_rollback
    )


def plan_command(cfg: Config, *, fmt: str, **flags: Any) -> None:
    opts = options(cfg, **flags)
    try:
        p = build(cfg, opts)
    finally:
        warn_probes(cfg.out)
    if fmt == "text":
        cfg.out.data(show.plan_text(p))
    else:
        cfg.out.data(output.render(show.plan_dict(p), fmt))


def render(cfg: Config, **flags: Any) -> None:
    opts = options(cfg, **flags)
    try:
        p = build(cfg, opts)
    finally:  # the probe pod's delete runs behind the plan: joined, and a failure said
        warn_probes(cfg.out)
    if not p.jobs:
        cfg.out.say("nothing to revert: every database is already at the target revision")
        return
    cfg.out.data(manifests.dump(list(p.jobs)))
    if any(redact.holds_secrets(j) for j in p.jobs):  # meant for GitOps: printed as is, but said
        cfg.out.warn(
            "the manifest holds literal secrets (env values or URLs with passwords): "
            "keep it out of logs and commit it only encrypted"
        )
