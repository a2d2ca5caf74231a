"""click wiring of `plan`, `render` and `rollback`: options in, one call into `commands.planning` or
`commands.roll` out (imported when the command runs, so that `--help` stays light)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from kubectl_prefect_rollback import cli_options, constants
from kubectl_prefect_rollback.cli_options import (
    backup_options,
    complete_versions,
    config_of,
    duration_option,
    global_options,
    name,
    not_empty,
)


def plan_options(f: Callable) -> Callable:
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
            default=constants.DEFAULT_CHART,
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
        click.option("--pod", callback=name("subdomain"), help="Server pod to read the current heads from."),
        click.option("--selector", "-l", callback=not_empty, help="Label selector for the server pods."),
        click.option(
            "--container",
            "-c",
            callback=name("label"),
            help="Container of the server pod (default: image …/server).",
        ),
        click.option(
            "--force", is_flag=True, help="Allow a target that is not older than the deployed version."
        ),
        click.option(
            "--ignore-gitops", is_flag=True, help="Proceed although Argo CD / Flux reconciles the release."
        ),
        duration_option(
            "--probe-timeout",
            default="5m",
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


@click.command("plan")
@plan_options
@click.option(
    "-o", "--output", "fmt", type=click.Choice(["text", "json", "yaml"]), default="text", show_default=True
)
@click.pass_context
def plan_cmd(ctx: click.Context, fmt: str, **kw: Any) -> None:
    """Read-only: everything `rollback` would do, and why."""
    from kubectl_prefect_rollback.commands import planning

    planning.plan_command(config_of(ctx), fmt=fmt, **kw)


@click.command("render")
@plan_options
@click.pass_context
def render_cmd(ctx: click.Context, **kw: Any) -> None:
    """Print only the downgrade Job manifest (for GitOps or a manual kubectl apply)."""
    from kubectl_prefect_rollback.commands import planning

    planning.render(config_of(ctx), **kw)


@click.command("rollback")
@plan_options
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation (required without a terminal).")
@click.option("--dry-run", is_flag=True, help="Show the plan and stop (same as `plan`).")
@click.option("--no-scale-down", is_flag=True, help="Leave the Deployments running during the downgrade.")
@click.option("--no-wait", is_flag=True, help="Do not pass --wait to helm upgrade.")
@duration_option(
    "--helm-timeout",
    default=cli_options.HELM_TIMEOUT,
    help="helm upgrade --timeout (a Go duration such as 10m, or seconds).",
)
@duration_option(
    "--timeout",
    "job_timeout",
    default="3600",
    help="Wait this long for the downgrade Job (seconds or 1h); it keeps running after a timeout.",
)
@duration_option(
    "--verify-timeout",
    default="600",
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
@backup_options
@click.pass_context
def rollback_cmd(ctx: click.Context, **kw: Any) -> None:
    """Roll back: lock, record, scale down, downgrade the databases, helm upgrade, verify."""
    from kubectl_prefect_rollback.commands import roll

    roll.rollback_command(config_of(ctx), **kw)


COMMANDS = (plan_cmd, render_cmd, rollback_cmd)
