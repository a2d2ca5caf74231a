"""`rollback`: plan (with the lock check), show, confirm, back up, execute, and say what is left."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, NoReturn

from kubectl_prefect_rollback import (
    backup_plan,
    children,
    interrupt,
    output,
    plan,
    rollback,
    show,
    state,
)
from kubectl_prefect_rollback.commands import common, planning, recovery
from kubectl_prefect_rollback.commands.config import Config
from kubectl_prefect_rollback.errors import Interrupted, RollbackError
from kubectl_prefect_rollback.proc import CommandError


def rollback_command(
    cfg: Config,
    *,
    yes: bool,
    dry_run: bool,
    job_timeout: float,
    verify_timeout: float,
    retry: bool,
    force_unlock: bool,
    report: str | None,
    backup_dir: str | None,
    backups_confirmed: bool,
    backup_image: str,
    database_url_env: tuple[str, ...],
    backup_timeout: float,
    **flags: Any,
) -> None:
    t, out = cfg.target, cfg.out
    backup_settings = recovery.settings(
        backup_image=backup_image, database_url_env=database_url_env, backup_timeout=backup_timeout
    )
    opts = planning.options(cfg, **flags)
    run_opts = _run_options(opts, force_unlock, retry, job_timeout, verify_timeout)
    p = _plan(cfg, opts, force_unlock)
    out.say(show.plan_text(p))
    out.say()
    if dry_run:
        out.say("--dry-run: nothing was changed.")
        return
    interactive = common.stdin_is_terminal()
    folder = backup_plan.confirm(
        p, yes=yes, folder=backup_dir, confirmed=backups_confirmed, interactive=interactive, out=out
    )
    _confirm(p, yes=yes, out=out)
    taken = backup_plan.take(t, p, folder, backup_settings, out) if folder else None
    run = rollback.Run(t, p, run_opts, out)
    if taken is not None:
        run.backups.append({**taken.doc(), "dir": folder})
    _execute(cfg, run, report)
    _done(run, report, out)


def _done(run: rollback.Run, report: str | None, out: output.Output) -> None:
    _write(report, run, "succeeded", out)
    if interrupt.received():  # it came during the last call, which finished: the work is done
        out.warn("a signal came during the last step; that step finished, so the rollback is complete")
    total = sum(s.seconds for s in run.steps)
    p = run.plan
    out.say(
        f"\nRolled back {p.release.name} from {p.from_version} to {p.to_version} in {output.duration(total)}."
    )


def _run_options(
    opts: plan.Options, force_unlock: bool, retry: bool, job_timeout: float, verify_timeout: float
) -> rollback.RunOptions:
    return rollback.RunOptions(
        force_unlock=force_unlock,
        retry=retry,
        scale_down=opts.scale_down,
        job_timeout=float(job_timeout),
        ready_timeout=float(verify_timeout),
        helm_timeout=opts.helm_timeout,
    )


def _plan(cfg: Config, opts: plan.Options, force_unlock: bool) -> plan.Plan:
    """The plan, carrying the lease it was checked against; a signal while planning changed nothing."""
    try:
        p = planning.build(cfg, replace(opts, lock_check=True, force_unlock=force_unlock), for_rollback=True)
    except interrupt.Stopped:
        raise Interrupted("Interrupted while planning: nothing was changed.") from None
    finally:  # a refused plan too: its probe pod's delete is joined and a failure said
        common.warn_probes(cfg.out)
    return p


def _confirm(p: plan.Plan, *, yes: bool, out: output.Output) -> None:
    if yes:
        return
    common.confirm_release(
        out,
        p.release.name,
        "Type the release name to continue",
        refusal="refusing to roll back without confirmation: stdin is not a terminal.",
        hint=f"Re-run with --yes after checking `kubectl prefect-rollback plan --to {p.to_version}`.",
        warning="Downgrading migrations can lose data. Make sure nebula, orion and events are backed up.",
    )


def _execute(cfg: Config, run: rollback.Run, report: str | None) -> None:
    """Run the steps; whatever stops them is written to the report and said with what is left."""
    try:
        with interrupt.leftover(lambda: _abandon_note(run)):
            rollback.execute(run)
    except KeyboardInterrupt as e:
        _write(report, run, "interrupted", cfg.out)
        _interrupted(cfg, run, e)
    except (RollbackError, CommandError) as e:  # a kubectl/helm failure is a failed step too
        cfg.out.fail(str(e).splitlines()[0])
        _write(report, run, "failed", cfg.out)
        err = e if isinstance(e, RollbackError) else RollbackError(str(e))
        if state.changed(run):
            block = state.state_block(run, common.resume_command(cfg))
            err.hint = f"{err.hint}\n{block}" if err.hint else block
        raise err from None
    except Exception:  # a bug: the CLI boundary reports it; the operator still needs the state first
        _write(report, run, "failed", cfg.out)
        if state.changed(run):
            cfg.out.say(state.state_block(run, common.resume_command(cfg)))
        raise


def _interrupted(cfg: Config, run: rollback.Run, e: KeyboardInterrupt) -> NoReturn:
    signum = e.signum if isinstance(e, interrupt.Stopped) else None
    if not state.changed(run):
        raise Interrupted("Interrupted before any change: nothing was changed.", signum=signum) from None
    raise Interrupted(
        f"Interrupted ({e or 'SIGINT'}) in step {run.steps[-1].name if run.steps else '?'}.",
        hint=state.state_block(run, common.resume_command(cfg)),
        signum=signum,
    ) from None


def _write(path: str | None, run: rollback.Run, outcome: str, out: output.Output) -> None:
    common.write_report(path, lambda: run.report(outcome), out)


def _abandon_note(run: rollback.Run) -> str:
    """Said on a second signal: what may be left, without asking the cluster."""
    step = run.steps[-1].name if run.steps else "lock"
    notes = [f"lease {run.plan.lock_name}, still naming this run until it expires (30s)"]
    if step == "scale-down" or (step in ("downgrade", "chart") and run.opts.scale_down):
        notes.append("servers scaled down")
    if step == "downgrade" and run.plan.jobs:
        notes.append(f"job/{run.plan.jobs[0]['metadata']['name']} running in the cluster")
    for pid in children.running_helm():
        notes.append(f"helm upgrade (pid {pid}) still running: it records the release; a re-run waits")
    return "; ".join(notes)
