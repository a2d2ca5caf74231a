"""The subcommands' click definitions: options in, one call into `commands` out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from kubectl_prefect_rollback.cli import OUTPUTS, cli, global_options, make_config


def complete_versions(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """`--to` candidates: the chart versions in the release's helm history, newest first.

    Runs while the user presses TAB, so it is quiet: any error (no cluster, no helm, several releases)
    simply yields no candidates.
    """
    try:
        from kubectl_prefect_rollback import helm, release

        cfg = make_config(ctx)
        rel = release.resolve(cfg.target, cfg.release)
        versions: list[str] = []
        for r in sorted(helm.history(cfg.target, rel.name), key=lambda r: -r.revision):
            if r.version and r.version not in versions and r.version.startswith(incomplete):
                versions.append(r.version)
        return versions
    except Exception:  # noqa: BLE001 (completion must never fail loudly)
        return []


def _duration(ctx: click.Context, param: click.Parameter, value: Any) -> float | None:
    """Every time flag through durations.parse: `garbage`, `0` and `-1s` are refused before anything runs."""
    from kubectl_prefect_rollback import durations

    if value is None:
        return None
    return durations.parse(str(value), flag=_long(param))


def _long(param: click.Parameter) -> str:
    return max(param.opts, key=len)


def _name(rule: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """A name flag (--pod, --container) must follow Kubernetes' rule: `-x` would read as a flag."""

    def check(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        from kubectl_prefect_rollback import names

        return None if value is None else names.flag(value, _long(param), rule=rule)

    return check


def _not_empty(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    from kubectl_prefect_rollback.errors import BadInput

    if value is not None and not str(value).strip():
        raise BadInput(f"{_long(param)} is empty")
    return value


def _plan_options(f: Callable) -> Callable:
    opts = [
        click.option(
            "--to",
            "to",
            required=True,
            metavar="VERSION",
            help="Chart version to roll back to.",
            shell_complete=complete_versions,
        ),
        click.option(
            "--chart",
            envvar="PREFECT_ROLLBACK_CHART",
            default="./prefect-cloud-{version}.tgz",
            show_default=True,
            help="Target chart: a .tgz, a directory, repo/name or oci://…; {version} is replaced.",
        ),
        click.option(
            "--target-values",
            multiple=True,
            metavar="FILE",
            help="Values for the target release (repeatable). Default: the user values of the "
            "newest history revision that ran the target version.",
        ),
        click.option("--nebula-revision", metavar="REV", help="Target nebula revision (skip discovery)."),
        click.option("--orion-revision", metavar="REV", help="Target orion revision."),
        click.option("--events-revision", metavar="REV", help="Target events revision."),
        click.option("--pod", callback=_name("subdomain"), help="Server pod to read the current heads from."),
        click.option("--selector", "-l", callback=_not_empty, help="Label selector for the server pods."),
        click.option(
            "--container",
            "-c",
            callback=_name("label"),
            help="Container of the server pod (default: image …/server).",
        ),
        click.option(
            "--force", is_flag=True, help="Allow a target that is not older than the deployed version."
        ),
        click.option(
            "--ignore-gitops", is_flag=True, help="Proceed although Argo CD / Flux reconciles the release."
        ),
        click.option(
            "--probe-timeout",
            default="5m",
            show_default=True,
            callback=_duration,
            metavar="DURATION",
            help="Wait for a probe pod (and a server's listing exec) at most this long.",
        ),
        click.option(
            "--render-from-chart",
            is_flag=True,
            help="Render the current migration Job with `helm template` (needs --chart for the current "
            "version) instead of taking it from the deployed release.",
        ),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return global_options(f)


def _options(kw: dict[str, Any]):
    from kubectl_prefect_rollback import helm
    from kubectl_prefect_rollback.plan import Options

    return Options(
        to=kw["to"],
        release=None,
        chart=kw["chart"],
        target_values=tuple(kw["target_values"]),
        revisions={db: kw[f"{db}_revision"] for db in ("nebula", "orion", "events") if kw[f"{db}_revision"]},
        pod=kw["pod"],
        selector=kw["selector"],
        container=kw["container"],
        force=kw["force"],
        ignore_gitops=kw["ignore_gitops"],
        render_from_chart=kw["render_from_chart"],
        scale_down=not kw.get("no_scale_down", False),
        wait=not kw.get("no_wait", False),
        helm_timeout=kw.get("helm_timeout") or helm.DEFAULT_TIMEOUT,
    )


def _with_release(cfg, opts, kw: dict[str, Any] | None = None):
    from dataclasses import replace

    from kubectl_prefect_rollback import proc

    if kw and kw.get("probe_timeout"):  # make_config set the other limits already
        proc.limits.probe = kw["probe_timeout"]
    return replace(opts, release=cfg.release)


def _backup_options(f: Callable) -> Callable:
    from kubectl_prefect_rollback.backup_pod import DEFAULT_IMAGE, DEFAULT_URL_ENV

    defaults = ", ".join(f"{db}={name}" for db, name in DEFAULT_URL_ENV.items())
    opts = [
        click.option(
            "--backup-image",
            default=DEFAULT_IMAGE,
            show_default=True,
            callback=_not_empty,
            metavar="IMAGE",
            help="PostgreSQL client image (pg_dump, pg_restore, psql) of the backup pod.",
        ),
        click.option(
            "--database-url-env",
            multiple=True,
            metavar="DB=NAME",
            help=f"Env variable of the migration container holding DB's URL (repeatable; "
            f"default {defaults}).",
        ),
        click.option(
            "--backup-timeout",
            default="1h",
            show_default=True,
            callback=_duration,
            metavar="DURATION",
            help="Bound of one database's dump or restore.",
        ),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _backup_settings(kw: dict[str, Any]):
    from kubectl_prefect_rollback import backup, backup_pod

    return backup.Settings(
        image=kw.pop("backup_image"),
        url_env=backup_pod.parse_url_env(tuple(kw.pop("database_url_env"))),
        timeout=float(kw.pop("backup_timeout")),
    )


@cli.command("revisions")
@click.option("--all", "full", is_flag=True, help="Print each whole chain (revision, down revision, file).")
@click.option(
    "--to",
    metavar="VERSION",
    help="Also show the recorded heads of this chart version.",
    shell_complete=complete_versions,
)
@click.option("--save", is_flag=True, help="Record the current heads in the records ConfigMap.")
@click.option("-o", "--output", "fmt", type=OUTPUTS, default="table", show_default=True)
@click.option("--pod", callback=_name("subdomain"), help="Server pod to read.")
@click.option("--selector", "-l", callback=_not_empty, help="Label selector for the server pods.")
@click.option("--container", "-c", callback=_name("label"), help="Container of the server pod.")
@global_options
@click.pass_context
def revisions_command(ctx: click.Context, **kw: Any) -> None:
    """Current migration head of nebula, orion and events, read from a server pod."""
    from kubectl_prefect_rollback import commands

    commands.revisions(make_config(ctx), **kw)


@cli.command("plan")
@_plan_options
@click.option(
    "-o", "--output", "fmt", type=click.Choice(["text", "json", "yaml"]), default="text", show_default=True
)
@click.pass_context
def plan_cmd(ctx: click.Context, fmt: str, **kw: Any) -> None:
    """Read-only: everything `rollback` would do, and why."""
    from kubectl_prefect_rollback import commands

    cfg = make_config(ctx)
    commands.plan_command(cfg, _with_release(cfg, _options(kw), kw), fmt=fmt)


@cli.command("render")
@_plan_options
@click.pass_context
def render_cmd(ctx: click.Context, **kw: Any) -> None:
    """Print only the downgrade Job manifest (for GitOps or a manual kubectl apply)."""
    from kubectl_prefect_rollback import commands

    cfg = make_config(ctx)
    commands.render(cfg, _with_release(cfg, _options(kw), kw))


@cli.command("rollback")
@_plan_options
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation (required without a terminal).")
@click.option("--dry-run", is_flag=True, help="Show the plan and stop (same as `plan`).")
@click.option("--no-scale-down", is_flag=True, help="Leave the Deployments running during the downgrade.")
@click.option("--no-wait", is_flag=True, help="Do not pass --wait to helm upgrade.")
@click.option(
    "--helm-timeout",
    default="10m",
    show_default=True,
    callback=_duration,
    metavar="DURATION",
    help="helm upgrade --timeout (a Go duration such as 10m, or seconds).",
)
@click.option(
    "--timeout",
    "job_timeout",
    default="3600",
    show_default=True,
    callback=_duration,
    metavar="DURATION",
    help="Wait this long for the downgrade Job (seconds or 1h); it keeps running after a timeout.",
)
@click.option(
    "--verify-timeout",
    default="600",
    show_default=True,
    callback=_duration,
    metavar="DURATION",
    help="Wait this long for a Ready server pod on the target image (seconds or 10m).",
)
@click.option("--retry", is_flag=True, help="Delete and recreate a downgrade Job that failed earlier.")
@click.option(
    "--force-unlock", is_flag=True, help="Take over a lock left by an unfinished rollback to another version."
)
@click.option("--report", type=click.Path(dir_okay=False, writable=True), help="Write a JSON report to FILE.")
@click.option(
    "--backup",
    "backup_dir",
    metavar="DIR",
    type=click.Path(file_okay=False),
    help="pg_dump each database with migrations to revert into DIR before anything changes.",
)
@click.option(
    "--backups-confirmed",
    is_flag=True,
    envvar="PREFECT_ROLLBACK_BACKUPS_CONFIRMED",
    help="The databases are backed up already (lets --yes revert migrations that drop data; "
    "env PREFECT_ROLLBACK_BACKUPS_CONFIRMED=1 in a pipeline whose backups another job takes).",
)
@_backup_options
@click.pass_context
def rollback_cmd(
    ctx: click.Context,
    yes: bool,
    dry_run: bool,
    job_timeout: float,
    verify_timeout: float,
    retry: bool,
    force_unlock: bool,
    report: str | None,
    **kw: Any,
) -> None:
    """Roll back: lock, record, scale down, downgrade the databases, helm upgrade, verify."""
    from kubectl_prefect_rollback import commands, rollback

    cfg = make_config(ctx)
    backups = commands.BackupOptions(kw.pop("backup_dir"), kw.pop("backups_confirmed"), _backup_settings(kw))
    opts = _with_release(cfg, _options(kw), kw)
    run_opts = rollback.RunOptions(
        force_unlock=force_unlock,
        retry=retry,
        scale_down=opts.scale_down,
        job_timeout=float(job_timeout),
        ready_timeout=float(verify_timeout),
        helm_timeout=opts.helm_timeout,
    )
    commands.rollback_command(cfg, opts, run_opts, yes=yes, dry_run=dry_run, report=report, backups=backups)


@cli.command("backup")
@click.argument("folder", metavar="DIR", type=click.Path(file_okay=False))
@_backup_options
@click.option(
    "--probe-timeout",
    default="5m",
    show_default=True,
    callback=_duration,
    metavar="DURATION",
    help="Wait for the backup pod to run at most this long.",
)
@global_options
@click.pass_context
def backup_cmd(ctx: click.Context, folder: str, probe_timeout: float, **kw: Any) -> None:
    """pg_dump nebula, orion and events into DIR, through a pod built from each migration container."""
    from kubectl_prefect_rollback import commands, proc

    cfg = make_config(ctx)
    proc.limits.probe = probe_timeout
    commands.backup_command(cfg, folder, _backup_settings(kw))


@cli.command("restore")
@click.option(
    "--from",
    "folder",
    required=True,
    metavar="DIR",
    type=click.Path(file_okay=False, exists=True),
    help="A folder written by `backup` or `rollback --backup`.",
)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation (required without a terminal).")
@click.option("--force-unlock", is_flag=True, help="Take over a lock left by an unfinished rollback.")
@_backup_options
@click.option(
    "--probe-timeout",
    default="5m",
    show_default=True,
    callback=_duration,
    metavar="DURATION",
    help="Wait for a restore pod to run at most this long.",
)
@global_options
@click.pass_context
def restore_cmd(
    ctx: click.Context, folder: str, yes: bool, force_unlock: bool, probe_timeout: float, **kw: Any
) -> None:
    """Restore the databases from a backup: lock, scale down, pg_restore each, verify the heads."""
    from kubectl_prefect_rollback import commands, proc, restore

    cfg = make_config(ctx)
    proc.limits.probe = probe_timeout
    restore.run(
        cfg.target,
        cfg.release,
        folder,
        _backup_settings(kw),
        cfg.out,
        yes=yes,
        interactive=commands.stdin_is_terminal(),
        force_unlock=force_unlock,
    )


@cli.command("status")
@click.option("-o", "--output", "fmt", type=OUTPUTS, default="table", show_default=True)
@click.option(
    "--no-probe", is_flag=True, help="Without a running server pod, do not start a probe pod for the heads."
)
@global_options
@click.pass_context
def status_cmd(ctx: click.Context, fmt: str, no_probe: bool) -> None:
    """Read-only: is a rollback unfinished, how far it got, and the commands that resume or abort it."""
    from kubectl_prefect_rollback import commands

    commands.status_command(make_config(ctx), fmt=fmt, probe=not no_probe)


@cli.command("abort")
@click.option(
    "--chart",
    envvar="PREFECT_ROLLBACK_CHART",
    default="./prefect-cloud-{version}.tgz",
    show_default=True,
    help="The from-version's chart, for --roll-forward; {version} is replaced.",
)
@click.option(
    "--roll-forward", is_flag=True, help="After the chart step: helm upgrade back to the from-version."
)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation (required without a terminal).")
@click.option("--dry-run", is_flag=True, help="Show the abort plan and stop.")
@click.option("-o", "--output", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--retry", is_flag=True, help="Delete and recreate an upgrade Job that failed earlier.")
@click.option("--force-unlock", is_flag=True, help="Take a lock whose holder stopped renewing it now.")
@click.option("--no-wait", is_flag=True, help="Do not pass --wait to helm upgrade (--roll-forward).")
@click.option("--helm-timeout", default="10m", show_default=True, callback=_duration, metavar="DURATION")
@click.option(
    "--timeout",
    "job_timeout",
    default="3600",
    show_default=True,
    callback=_duration,
    metavar="DURATION",
    help="Wait this long for the upgrade Job.",
)
@click.option("--verify-timeout", default="600", show_default=True, callback=_duration, metavar="DURATION")
@click.option("--report", type=click.Path(dir_okay=False, writable=True), help="Write a JSON report to FILE.")
@global_options
@click.pass_context
def abort_cmd(ctx: click.Context, **kw: Any) -> None:
    """Back to the state before an unfinished rollback: databases upgraded, replicas restored, verified."""
    from kubectl_prefect_rollback import abortplan, commands, rollback

    cfg = make_config(ctx)
    opts = abortplan.Options(
        chart=kw["chart"],
        roll_forward=kw["roll_forward"],
        force_unlock=kw["force_unlock"],
        wait=not kw["no_wait"],
        helm_timeout=kw["helm_timeout"],
    )
    run_opts = rollback.RunOptions(
        force_unlock=kw["force_unlock"],
        retry=kw["retry"],
        job_timeout=float(kw["job_timeout"]),
        ready_timeout=float(kw["verify_timeout"]),
        helm_timeout=kw["helm_timeout"],
    )
    commands.abort_command(
        cfg, opts, run_opts, yes=kw["yes"], dry_run=kw["dry_run"], fmt=kw["fmt"], report=kw["report"]
    )


@cli.command("history")
@click.option("-o", "--output", "fmt", type=OUTPUTS, default="table", show_default=True)
@global_options
@click.pass_context
def history_cmd(ctx: click.Context, fmt: str) -> None:
    """Helm history with chart versions and any recorded database heads."""
    from kubectl_prefect_rollback import commands

    commands.history(make_config(ctx), fmt=fmt)


@cli.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion_cmd(shell: str) -> None:
    """Print a shell completion script (for kubectl-prefect_rollback and the kubectl plugin)."""
    from click.shell_completion import get_completion_class

    # The variable click derives from the executable name that krew links and helm runs.
    comp = get_completion_class(shell)(
        cli, {}, "kubectl-prefect_rollback", "_KUBECTL_PREFECT_ROLLBACK_COMPLETE"
    )
    click.echo(comp.source())


# cobra's completion protocol, spoken by kubectl (>= 1.26, via kubectl_complete-prefect_rollback) and by
# helm (via plugin.complete): the words after the plugin name, the last one being the word under the
# cursor (maybe empty); one candidate a line, then ":<directive>".
_NO_FILE_COMP, _FILTER_DIRS, _DEFAULT = 4, 16, 0


@cli.command(
    "__complete",
    hidden=True,
    add_help_option=False,
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.argument("words", nargs=-1, type=click.UNPROCESSED)
def complete_cmd(words: tuple[str, ...]) -> None:
    """Shell completion for kubectl's and helm's plugin completion hooks."""
    from click.shell_completion import ShellComplete

    *args, incomplete = words or ("",)
    comp = ShellComplete(cli, {}, "kubectl-prefect_rollback", "_KUBECTL_PREFECT_ROLLBACK_COMPLETE")
    directive = _NO_FILE_COMP
    for item in comp.get_completions(args, incomplete):
        if item.type == "file":
            directive = _DEFAULT
        elif item.type == "dir":
            directive = _FILTER_DIRS
        else:
            click.echo(item.value)
    click.echo(f":{directive}")
