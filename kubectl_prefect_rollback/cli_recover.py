"""click wiring of `abort`, `backup` and `restore`: options in, one call into `commands.recovery` out
(imported when the command runs: `--help` stays light)."""

from __future__ import annotations

from typing import Any

import click

from kubectl_prefect_rollback import cli_options, constants
from kubectl_prefect_rollback.cli_options import backup_options, config_of, duration_option, global_options


@click.command("backup")
@click.argument("folder", metavar="DIR", type=click.Path(file_okay=False))
@backup_options
@duration_option("--probe-timeout", default="5m", help="Wait for the backup pod to run at most this long.")
@global_options
@click.pass_context
def backup_cmd(ctx: click.Context, **kw: Any) -> None:
    """pg_dump nebula, orion and events into DIR, through a pod built from each migration container."""
    from kubectl_prefect_rollback.commands import recovery

    recovery.backup_command(config_of(ctx), **kw)


@click.command("restore")
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
@backup_options
@duration_option("--probe-timeout", default="5m", help="Wait for a restore pod to run at most this long.")
@global_options
@click.pass_context
def restore_cmd(ctx: click.Context, **kw: Any) -> None:
    """Restore the databases from a backup: lock, scale down, pg_restore each, verify the heads."""
    from kubectl_prefect_rollback.commands import recovery

    recovery.restore_command(config_of(ctx), **kw)


@click.command("abort")
@click.option(
    "--chart",
    envvar="PREFECT_ROLLBACK_CHART",
    default=constants.DEFAULT_CHART,
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
@duration_option("--helm-timeout", default=cli_options.HELM_TIMEOUT)
@duration_option("--timeout", "job_timeout", default="3600", help="Wait this long for the upgrade Job.")
@duration_option("--verify-timeout", default="600")
@click.option("--report", type=click.Path(dir_okay=False, writable=True), help="Write a JSON report to FILE.")
@global_options
@click.pass_context
def abort_cmd(ctx: click.Context, **kw: Any) -> None:
    """Back to the state before an unfinished rollback: databases upgraded, replicas restored, verified."""
    from kubectl_prefect_rollback.commands import recovery

    recovery.abort_command(config_of(ctx), **kw)


COMMANDS = (abort_cmd, backup_cmd, restore_cmd)
