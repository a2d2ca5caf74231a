"""`abort`, `backup` and `restore`, and the backup settings they share with `rollback --backup`."""

from __future__ import annotations

from dataclasses import replace

from kubectl_prefect_rollback import (
    abort,
    abortplan,
    abortshow,
    backup,
    backup_pod,
    deployed,
    interrupt,
    migrations,
    output,
    proc,
    release,
    restore,
    rollback,
)
from kubectl_prefect_rollback.commands import common
from kubectl_prefect_rollback.commands.config import Config
from kubectl_prefect_rollback.errors import Interrupted, Refused, RollbackError
from kubectl_prefect_rollback.proc import CommandError


def settings(
    *, backup_image: str, database_url_env: tuple[str, ...], backup_timeout: float
) -> backup.Settings:
    """--backup-image, --database-url-env and --backup-timeout as backup.Settings."""
    return backup.Settings(
        image=backup_image,
        url_env=backup_pod.parse_url_env(tuple(database_url_env)),
        timeout=float(backup_timeout),
    )


def backup_command(cfg: Config, *, folder: str, probe_timeout: float, **flags) -> None:
    """Dump every database of the release as it runs now (no plan, no lock: nothing is changed)."""
    proc.limits.probe = probe_timeout
    chosen = settings(**flags)
    t = cfg.target
    rel = release.resolve(t, cfg.release)
    _, jobs = deployed.of_revision(t, rel.name, rel.revision, rel.version)
    if backup.reusable_any(folder):
        raise Refused(
            f"{folder} already holds a backup: it is not overwritten", hint="Choose an empty folder."
        )
    where = backup.Where(rel.name, rel.version, jobs)
    try:
        manifest = backup.take(t, where, migrations.DATABASES, folder, chosen, cfg.out)
    except interrupt.Stopped:
        raise Interrupted("Interrupted during the backup: nothing was changed.") from None
    cfg.out.data(output.render(manifest.doc(), "json"))


def restore_command(
    cfg: Config, *, folder: str, yes: bool, force_unlock: bool, probe_timeout: float, **flags
) -> None:
    """Restore the databases from a backup: lock, scale down, pg_restore each, verify the heads."""
    proc.limits.probe = probe_timeout
    chosen = settings(**flags)
    interactive = common.stdin_is_terminal()
    restore.run(
        cfg.target,
        cfg.release,
        folder,
        chosen,
        cfg.out,
        yes=yes,
        interactive=interactive,
        force_unlock=force_unlock,
    )


def abort_command(
    cfg: Config,
    *,
    chart: str,
    roll_forward: bool,
    yes: bool,
    dry_run: bool,
    fmt: str,
    retry: bool,
    force_unlock: bool,
    no_wait: bool,
    helm_timeout: float,
    job_timeout: float,
    verify_timeout: float,
    report: str | None,
) -> None:
    """Back to the release as it was before the rollback: plan, show, confirm, execute, like rollback."""
    out = cfg.out
    opts = abortplan.Options(
        chart=chart,
        roll_forward=roll_forward,
        force_unlock=force_unlock,
        wait=not no_wait,
        helm_timeout=helm_timeout,
    )
    p = _abort_plan(cfg, opts)
    _show_abort_plan(p, out, fmt)
    if dry_run:
        out.say("--dry-run: nothing was changed.")
        return
    if not yes:
        _confirm_abort(p, out)
    run_opts = rollback.RunOptions(
        force_unlock=force_unlock,
        retry=retry,
        job_timeout=float(job_timeout),
        ready_timeout=float(verify_timeout),
        helm_timeout=helm_timeout,
    )
    run = rollback.Run(cfg.target, p, run_opts, out)  # type: ignore[arg-type]
    _abort(cfg, run, p, report)
    total = sum(s.seconds for s in run.steps)
    out.say(
        f"\nAborted: {p.release.name} is back at {p.rb.from_version} "
        f"(the rollback to {p.rb.to_version} is undone) in {output.duration(total)}."
    )


def _show_abort_plan(p: abortplan.AbortPlan, out: output.Output, fmt: str) -> None:
    if fmt == "json":
        out.data(output.render(abortshow.plan_dict(p), "json"))
    else:
        out.say(abortshow.plan_text(p))
    out.say()


def _confirm_abort(p: abortplan.AbortPlan, out: output.Output) -> None:
    common.confirm_release(
        out,
        p.release.name,
        "Type the release name to abort the rollback",
        refusal="refusing to abort without confirmation: stdin is not a terminal.",
        hint="Re-run with --yes after checking `abort --dry-run`.",
    )


def _abort_plan(cfg: Config, opts: abortplan.Options) -> abortplan.AbortPlan:
    try:
        p = abortplan.build(cfg.target, replace(opts, release=cfg.release))
    except interrupt.Stopped:
        raise Interrupted("Interrupted while planning the abort: nothing was changed.") from None
    finally:  # a refused plan too: its probe pod's delete is joined and a failure said
        common.warn_probes(cfg.out)
    return p


def _abort(cfg: Config, run: rollback.Run, p: abortplan.AbortPlan, report: str | None) -> None:
    """Execute; whatever stops it is written to the report and said with the command that finishes it."""
    out = cfg.out
    again = common.resume_command(cfg)  # as typed, with --yes: this abort was confirmed already

    def write(outcome: str) -> None:
        common.write_report(report, lambda: abort.report(run, p, outcome), out)

    try:
        with interrupt.leftover(lambda: f"lease {p.lock_name}, still naming this run until it expires (30s)"):
            abort.execute(run, p)
    except KeyboardInterrupt as e:
        write("interrupted")
        raise Interrupted(
            f"Interrupted ({e or 'SIGINT'}) in abort step {run.steps[-1].name if run.steps else '?'}.",
            hint=f"lock: {run.lock_state}\nRe-run to finish the abort (finished steps are skipped): {again}",
            signum=e.signum if isinstance(e, interrupt.Stopped) else None,
        ) from None
    except (RollbackError, CommandError) as e:
        out.fail(str(e).splitlines()[0])
        write("failed")
        err = e if isinstance(e, RollbackError) else RollbackError(str(e))
        tail = f"lock: {run.lock_state}\nRe-run to finish the abort (finished steps are skipped): {again}"
        err.hint = f"{err.hint}\n{tail}" if err.hint else tail
        raise err from None
    write("succeeded")
