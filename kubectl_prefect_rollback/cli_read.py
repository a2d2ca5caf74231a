"""click wiring of the read-only commands `revisions`, `history` and `status`: options in, one call into
`commands.read` out (imported when the command runs: `--help` stays light)."""

from __future__ import annotations

from typing import Any

import click

from kubectl_prefect_rollback.cli_options import (
    OUTPUTS,
    complete_versions,
    config_of,
    global_options,
    name,
    not_empty,
)


@click.command("revisions")
@click.option("--all", "full", is_flag=True, help="Print each whole chain (revision, down revision, file).")
@click.option(
    "--to",
    metavar="VERSION",
    help="Also show the recorded heads of this chart version.",
    shell_complete=complete_versions,
)
@click.option(
    "--save",
    is_flag=True,
    help="Record the current heads, and whether the image's downgrade CLI needs -y, in the records ConfigMap"
    " (a later rollback from this version then needn't ask it).",
)
@click.option("-o", "--output", "fmt", type=OUTPUTS, default="table", show_default=True)
@click.option("--pod", callback=name("subdomain"), help="Server pod to read.")
@click.option("--selector", "-l", callback=not_empty, help="Label selector for the server pods.")
@click.option("--container", "-c", callback=name("label"), help="Container of the server pod.")
@global_options
@click.pass_context
def revisions_cmd(ctx: click.Context, **kw: Any) -> None:
    """Current migration head of nebula, orion and events, read from a server pod."""
    from kubectl_prefect_rollback.commands import read

    read.revisions(config_of(ctx), **kw)


@click.command("history")
@click.option("-o", "--output", "fmt", type=OUTPUTS, default="table", show_default=True)
@global_options
@click.pass_context
def history_cmd(ctx: click.Context, fmt: str) -> None:
    """Helm history with chart versions and any recorded database heads."""
    from kubectl_prefect_rollback.commands import read

    read.history(config_of(ctx), fmt=fmt)


@click.command("status")
@click.option("-o", "--output", "fmt", type=OUTPUTS, default="table", show_default=True)
@click.option(
    "--no-probe", is_flag=True, help="Without a running server pod, do not start a probe pod for the heads."
)
@global_options
@click.pass_context
def status_cmd(ctx: click.Context, fmt: str, no_probe: bool) -> None:
    """Read-only: is a rollback unfinished, how far it got, and the commands that resume or abort it."""
    from kubectl_prefect_rollback.commands import read

    read.status_command(config_of(ctx), fmt=fmt, probe=not no_probe)


COMMANDS = (revisions_cmd, history_cmd, status_cmd)
