"""One plain function per command; cli.py only wires options into these."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from typing import Any

from kubectl_prefect_rollback import (
    backup,
    backup_plan,
    children,
    facts,
    heads,
    helm,
    interrupt,
    kube,
    lock,
    migrations,
    output,
    plan,
    preflight,
    probe,
    records,
    release,
    rollback,
    servers,
    show,
    state,
)
from kubectl_prefect_rollback.errors import Interrupted, Refused, RollbackError
from kubectl_prefect_rollback.output import Output
from kubectl_prefect_rollback.proc import CommandError
from kubectl_prefect_rollback.target import Target


@dataclass(frozen=True)
class BackupOptions:
    folder: str | None = None  # --backup DIR
    confirmed: bool = False  # --backups-confirmed
    settings: backup.Settings = field(default_factory=backup.Settings)


@dataclass(frozen=True)
class Config:
    target: Target
    release: str | None
    out: Output
    argv: tuple[str, ...] = ()  # as typed, for the `Resume:` line
    prog: str = "kubectl prefect-rollback"


def revisions(
    cfg: Config,
    *,
    full: bool,
    to: str | None,
    save: bool,
    fmt: str,
    pod: str | None,
    selector: str | None,
    container: str | None,
) -> None:
    t = cfg.target
    rel = release.resolve(t, cfg.release)
    pods = kube.list_(t, "pods", selector)
    server = servers.find_server_pod(pods, rel.name, pod=pod, container=container)
    if server is None:
        raise RollbackError(
            f"no Running server pod of {rel.name} in namespace {t.namespace}",
            hint="Pass --pod NAME (and --container) to read a specific pod.",
        )
    chains = heads.read_chains(t, server).chains
    target = _target_heads(cfg, rel, to) if to else None
    if save:
        records.write(t, rel.name, {rel.version: (heads.heads_of(chains), f"pod {server.name}")})
        cfg.out.ok(f"heads of {rel.version} recorded in configmap {records.name(rel.name)}")
    doc = {
        "apiVersion": show.API_VERSION,
        "kind": "Revisions",
        "release": {
            "name": rel.name,
            "namespace": t.namespace,
            "chart": rel.chart,
            "version": rel.version,
            "appVersion": rel.app_version,
            "revision": rel.revision,
            "status": rel.status,
        },
        "source": {"pod": server.name, "container": server.container},
        "databases": show.chains_dict(chains, full),
    }
    if target is not None:
        doc["target"] = {"version": to, "heads": target}
        for db, entry in doc["databases"].items():
            chain = chains.get(db)
            tgt = target.get(db)
            entry["target"] = tgt
            entry["toRevert"] = len(chain.path_to(tgt)) if chain and tgt and chain.contains(tgt) else None
    if fmt != "table":
        cfg.out.data(output.render(doc, fmt))
        return
    cfg.out.say(
        f"release   {rel.name}  chart {rel.chart}-{rel.version}  app {rel.app_version}  "
        f"(revision {rel.revision}, {rel.status})"
    )
    cfg.out.say(f"pod       {server.name}  container {server.container}\n")
    cfg.out.data(_revisions_table(chains, doc, target is not None, full))


def _revisions_table(chains: dict, doc: dict[str, Any], with_target: bool, full: bool) -> str:
    headers = ["DATABASE", "HEAD", "MIGRATIONS", "NEWEST FILE"] + (
        ["TARGET", "TO REVERT"] if with_target else []
    )
    rows = []
    for db, entry in doc["databases"].items():
        row = [db, entry["head"] or "-", entry["count"], entry.get("newestFile") or "(absent)"]
        if with_target:
            row += [entry.get("target") or "-", "?" if entry.get("toRevert") is None else entry["toRevert"]]
        rows.append(row)
    text = output.table(headers, rows)
    if full:
        for db, chain in chains.items():
            if chain is None:
                continue
            text += f"\n\n{db} (newest first, ! = downgrade drops data)\n"
            text += output.table(
                ["", "REVISION", "DOWN REVISION", "FILE", "DESCRIPTION"],
                [
                    [
                        "!" if m.destructive else "",
                        m.revision,
                        ",".join(m.down_revisions) or "-",
                        m.file,
                        m.description,
                    ]
                    for m in chain.migrations
                ],
            )
    return text


def _target_heads(cfg: Config, rel: helm.Release, to: str) -> dict[str, str | None]:
    from kubectl_prefect_rollback import versions

    versions.parse(to)
    recorded = records.heads(records.read(cfg.target, rel.name), to)
    if recorded is None:
        raise RollbackError(
            f"no heads recorded for {to} in configmap {records.name(rel.name)}",
            hint=f"`plan --to {to}` finds them with a probe pod; "
            f"`revisions --save` records them while {to} runs.",
        )
    return recorded


def history(cfg: Config, *, fmt: str) -> None:
    t = cfg.target
    rel = release.resolve(t, cfg.release)
    recorded = records.read(t, rel.name)
    rows = []
    for h in helm.history(t, rel.name):
        rec = records.heads(recorded, h.version) or {}
        rows.append(
            {
                "revision": h.revision,
                "updated": h.updated,
                "status": h.status,
                "chart": h.chart,
                "version": h.version,
                "appVersion": h.app_version,
                "description": h.description,
                "heads": rec or None,
            }
        )
    if fmt != "table":
        cfg.out.data(
            output.render(
                {"apiVersion": show.API_VERSION, "kind": "History", "release": rel.name, "revisions": rows},
                fmt,
            )
        )
        return
    cfg.out.data(
        output.table(
            ["REVISION", "STATUS", "CHART", "APP", "NEBULA", "ORION", "EVENTS", "DESCRIPTION"],
            [
                [
                    r["revision"],
                    r["status"],
                    f"{r['chart']}-{r['version']}",
                    r["appVersion"],
                    *((r["heads"] or {}).get(db) or "-" for db in migrations.DATABASES),
                    r["description"][:60],
                ]
                for r in rows
            ],
        )
    )


def plan_command(cfg: Config, opts: plan.Options, *, fmt: str) -> None:
    try:
        p = preflight.check_plan(
            cfg.target, plan.assemble(facts.gather(cfg.target, opts), opts), for_rollback=False
        )
    finally:
        _warn_probes(cfg.out)
    if fmt == "text":
        cfg.out.data(show.plan_text(p))
    else:
        cfg.out.data(output.render(show.plan_dict(p), fmt))


def render(cfg: Config, opts: plan.Options) -> None:
    from kubectl_prefect_rollback import manifests, redact

    p = preflight.check_plan(
        cfg.target, plan.assemble(facts.gather(cfg.target, opts), opts), for_rollback=False
    )
    if not p.jobs:
        cfg.out.say("nothing to revert: every database is already at the target revision")
        return
    cfg.out.data(manifests.dump(list(p.jobs)))
    if any(redact.holds_secrets(j) for j in p.jobs):  # meant for GitOps: printed as is, but said
        cfg.out.warn(
            "the manifest holds literal secrets (env values or URLs with passwords): "
            "keep it out of logs and commit it only encrypted"
        )


def rollback_command(
    cfg: Config,
    opts: plan.Options,
    run_opts: rollback.RunOptions,
    *,
    yes: bool,
    dry_run: bool,
    report: str | None,
    backups: BackupOptions | None = None,
) -> None:
    t, out = cfg.target, cfg.out
    backups = backups or BackupOptions()
    try:
        opts = replace(opts, lock_check=True, force_unlock=run_opts.force_unlock)
        p = preflight.check_plan(t, plan.assemble(facts.gather(t, opts), opts), for_rollback=True)
    except interrupt.Stopped:
        _warn_probes(out)
        raise Interrupted("Interrupted while planning: nothing was changed.") from None
    _warn_probes(out)
    out.say(show.plan_text(p))
    out.say()
    if dry_run:
        out.say("--dry-run: nothing was changed.")
        return
    folder = backup_plan.confirm(
        p,
        yes=yes,
        folder=backups.folder,
        confirmed=backups.confirmed,
        interactive=stdin_is_terminal(),
        out=out,
    )
    _confirm(p, yes=yes, out=out)
    taken = backup_plan.take(t, p, folder, backups.settings, out) if folder else None
    run = rollback.Run(t, p, run_opts, out)
    if taken is not None:
        run.backups.append({**taken.doc(), "dir": folder})
    try:
        with interrupt.leftover(lambda: _abandon_note(run)):
            rollback.execute(run)
    except KeyboardInterrupt as e:
        signum = e.signum if isinstance(e, interrupt.Stopped) else None
        _write(report, run, "interrupted", out)
        if not state.changed(run):
            raise Interrupted("Interrupted before any change: nothing was changed.", signum=signum) from None
        raise Interrupted(
            f"Interrupted ({e or 'SIGINT'}) in step {run.steps[-1].name if run.steps else '?'}.",
            hint=state.state_block(run, resume_command(cfg)),
            signum=signum,
        ) from None
    except (RollbackError, CommandError) as e:  # a kubectl/helm failure is a failed step too
        out.fail(str(e).splitlines()[0])
        _write(report, run, "failed", out)
        err = e if isinstance(e, RollbackError) else RollbackError(str(e))
        if state.changed(run):
            block = state.state_block(run, resume_command(cfg))
            err.hint = f"{err.hint}\n{block}" if err.hint else block
        raise err from None
    except Exception:  # a bug: the CLI boundary reports it; the operator still needs the state first
        _write(report, run, "failed", out)
        if state.changed(run):
            out.say(state.state_block(run, resume_command(cfg)))
        raise
    _write(report, run, "succeeded", out)
    if interrupt.received():  # it came during the last call, which finished: the work is done
        out.warn("a signal came during the last step; that step finished, so the rollback is complete")
    total = sum(s.seconds for s in run.steps)
    out.say(
        f"\nRolled back {p.release.name} from {p.from_version} to {p.to_version} in {output.duration(total)}."
    )


def resume_command(cfg: Config) -> str:
    """The command as typed (secrets redacted), with the namespace spelled out: in helm plugin mode
    helm took -n and --kube-context out of our arguments."""
    import shlex

    from kubectl_prefect_rollback.proc import redact_argv

    argv = list(cfg.argv)
    words = {a.split("=", 1)[0] for a in argv}
    if not words & {"-n", "--namespace"}:
        argv += ["-n", cfg.target.namespace]
    if cfg.target.context and not words & {"--context", "--kube-context"}:
        argv += ["--kube-context" if cfg.prog.startswith("helm") else "--context", cfg.target.context]
    if not words & {"-y", "--yes"}:
        argv.append("--yes")  # the confirmation was given for this rollback already
    return f"{cfg.prog} {shlex.join(redact_argv(argv))}"


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


def _warn_probes(out: Output) -> None:
    for name in probe.undeleted:
        out.warn(f"could not delete probe pod {name}: the next rollback deletes it (it holds the Job's env)")
    probe.undeleted.clear()


def _write(path: str | None, run: rollback.Run, outcome: str, out: Output) -> None:
    """An unwritable report warns; it never changes the rollback's own exit code."""
    if not path:
        return
    try:
        rollback.write_report(path, run.report(outcome))
    except OSError as e:
        out.warn(f"could not write report {path}: {e.strerror or e}")


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def _confirm(p: plan.Plan, *, yes: bool, out: Output) -> None:
    if yes:
        return
    if not stdin_is_terminal():
        raise Refused(
            "refusing to roll back without confirmation: stdin is not a terminal.",
            hint=f"Re-run with --yes after checking `kubectl prefect-rollback plan --to {p.to_version}`.",
        )
    out.say("Downgrading migrations can lose data. Make sure nebula, orion and events are backed up.")
    import click

    try:
        answer = out.ask("Type the release name to continue")
    except click.exceptions.Abort:  # click turns Ctrl-C at a prompt into Abort (exit 1)
        if interrupt.received():
            raise Interrupted("Interrupted at the confirmation: nothing was changed.") from None
        raise
    if answer.strip() != p.release.name:
        raise Refused(f"confirmation did not match {p.release.name!r}: nothing was changed")


def status_command(cfg: Config, *, fmt: str, probe: bool = True) -> None:
    """Read-only: an unfinished rollback as the cluster shows it, and the commands that resume or abort it."""
    from kubectl_prefect_rollback import deployed, proc, unfinished
    from kubectl_prefect_rollback import status as status_mod
    from kubectl_prefect_rollback.probe import current as probe_current  # `probe` is the flag here

    t = cfg.target
    rel = release.resolve(t, cfg.release)
    facts, (listing, source) = proc.gather(
        lambda: unfinished.gather(t, rel),
        lambda: heads.from_server(t, rel, selector=None, pod=None, container=None),
    )
    if listing is None and probe:  # the servers are scaled down: the deployed image answers
        try:
            _, jobs = deployed.of_revision(t, rel.name, rel.revision, rel.version)
            listing, source = probe_current(t, rel, jobs)
        except (RollbackError, CommandError) as e:  # status still answers; it says why heads are missing
            source = f"unknown (no server pod runs and the probe failed: {str(e).splitlines()[0][:200]})"
        finally:
            _warn_probes(cfg.out)
    heads_of = heads.heads_of(listing.chains) if listing is not None else None
    facts.extra["heads"] = {"source": source or "no server pod runs (--no-probe)", "heads": heads_of}
    doc = status_mod.document(facts, lock.now(), prog=cfg.prog, namespace=t.namespace, context=t.context)
    cfg.out.data(status_mod.table(doc) if fmt == "table" else output.render(doc, fmt))


def abort_command(
    cfg: Config,
    opts: Any,  # abortplan.Options
    run_opts: rollback.RunOptions,
    *,
    yes: bool,
    dry_run: bool,
    fmt: str,
    report: str | None,
) -> None:
    """Back to the release as it was before the rollback: plan, show, confirm, execute, like rollback."""
    from kubectl_prefect_rollback import abort, abortplan, abortshow

    t, out = cfg.target, cfg.out
    try:
        p = abortplan.build(t, replace(opts, release=cfg.release))
    except interrupt.Stopped:
        _warn_probes(out)
        raise Interrupted("Interrupted while planning the abort: nothing was changed.") from None
    _warn_probes(out)
    if fmt == "json":
        out.data(output.render(abortshow.plan_dict(p), "json"))
    else:
        out.say(abortshow.plan_text(p))
    out.say()
    if dry_run:
        out.say("--dry-run: nothing was changed.")
        return
    if not yes:
        if not stdin_is_terminal():
            raise Refused(
                "refusing to abort without confirmation: stdin is not a terminal.",
                hint="Re-run with --yes after checking `abort --dry-run`.",
            )
        import click

        try:
            answer = out.ask("Type the release name to abort the rollback")
        except click.exceptions.Abort:  # Ctrl-C at the prompt
            if interrupt.received():
                raise Interrupted("Interrupted at the confirmation: nothing was changed.") from None
            raise
        if answer.strip() != p.release.name:
            raise Refused(f"confirmation did not match {p.release.name!r}: nothing was changed")
    run = rollback.Run(t, p, run_opts, out)  # type: ignore[arg-type]
    again = resume_command(cfg)  # as typed, with --yes: this abort was confirmed already

    def write(outcome: str) -> None:
        if report:
            try:
                rollback.write_report(report, abort.report(run, p, outcome))
            except OSError as e:
                out.warn(f"could not write report {report}: {e.strerror or e}")

    try:
        with interrupt.leftover(lambda: f"lease {p.lock_name}, still naming this run until it expires (30s)"):
            abort.execute(run, p)
    except KeyboardInterrupt as e:
        signum = e.signum if isinstance(e, interrupt.Stopped) else None
        write("interrupted")
        raise Interrupted(
            f"Interrupted ({e or 'SIGINT'}) in abort step {run.steps[-1].name if run.steps else '?'}.",
            hint=f"lock: {run.lock_state}\nRe-run to finish the abort (finished steps are skipped): {again}",
            signum=signum,
        ) from None
    except (RollbackError, CommandError) as e:
        out.fail(str(e).splitlines()[0])
        write("failed")
        err = e if isinstance(e, RollbackError) else RollbackError(str(e))
        tail = f"lock: {run.lock_state}\nRe-run to finish the abort (finished steps are skipped): {again}"
        err.hint = f"{err.hint}\n{tail}" if err.hint else tail
        raise err from None
    write("succeeded")
    total = sum(s.seconds for s in run.steps)
    out.say(
        f"\nAborted: {p.release.name} is back at {p.rb.from_version} "
        f"(the rollback to {p.rb.to_version} is undone) in {output.duration(total)}."
    )


def backup_command(cfg: Config, folder: str, settings: backup.Settings) -> None:
    """Dump every database of the release as it runs now (no plan, no lock: nothing is changed)."""
    from kubectl_prefect_rollback import deployed, migrations

    t = cfg.target
    rel = release.resolve(t, cfg.release)
    _, jobs = deployed.of_revision(t, rel.name, rel.revision, rel.version)
    if backup.reusable_any(folder):
        raise Refused(
            f"{folder} already holds a backup: it is not overwritten", hint="Choose an empty folder."
        )
    where = backup.Where(rel.name, rel.version, jobs)
    try:
        manifest = backup.take(t, where, migrations.DATABASES, folder, settings, cfg.out)
    except interrupt.Stopped:
        raise Interrupted("Interrupted during the backup: nothing was changed.") from None
    cfg.out.data(output.render(manifest.doc(), "json"))
