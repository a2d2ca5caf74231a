"""The command group: the subcommands added from the cli_* wiring modules, the implicit `rollback`,
shell completion, and `main`, where errors become exit codes once.

The import direction is one-way: cli -> cli_plan/cli_read/cli_recover -> cli_options -> (when a command
runs) commands. Kept light on purpose: `--version` and `--help` import neither yaml nor the rollback
machinery.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from kubectl_prefect_rollback import __version__, cli_plan, cli_read, cli_recover
from kubectl_prefect_rollback.cli_options import VALUED, global_options, prog_name, verbose
from kubectl_prefect_rollback.errors import ExitCode, Interrupted

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class Group(click.Group):
    """`helm prefect-rollback --to 1.2.3` means `rollback --to 1.2.3`; errors become exit codes here."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta.setdefault("argv", list(args))  # as typed: the `Resume:` line repeats it
        if args and _command_index(args, self.commands) is None and not _only_globals(args):
            args = ["rollback", *args]
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        """The one error boundary: whatever escapes a command leaves as an exit code and one line."""
        from kubectl_prefect_rollback import proc
        from kubectl_prefect_rollback.errors import AlreadyDone, RollbackError

        try:
            return super().invoke(ctx)
        except AlreadyDone as e:
            click.echo(e.format_message(), err=True)
            ctx.exit(0)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except proc.CommandError as e:
            hint = "Is it installed and on PATH?" if e.not_found else None
            raise RollbackError(str(e), hint=hint) from None
        except KeyboardInterrupt:
            raise Interrupted("Interrupted.") from None
        except Exception as e:  # noqa: BLE001 - a bug or a surprise from the cluster: never a bare traceback
            raise _unexpected(ctx, e) from None


def _unexpected(ctx: click.Context, e: Exception) -> click.ClickException:
    from kubectl_prefect_rollback import redact
    from kubectl_prefect_rollback.errors import RollbackError

    if verbose(ctx):
        import traceback

        click.echo(redact.text("".join(traceback.format_exception(e))), err=True, nl=False)
    detail = " ".join(str(e).split())[:300]
    return RollbackError(
        f"unexpected {type(e).__name__}" + (f": {detail}" if detail else ""),
        hint=None if verbose(ctx) else "This is a bug or an unexpected answer: run with -v for the details.",
    )


def _command_index(args: list[str], commands: dict[str, Any]) -> int | None:
    skip = False
    for i, arg in enumerate(args):
        if skip:
            skip = False
        elif arg in VALUED:
            skip = True
        elif not arg.startswith("-"):
            return i if arg in commands else None
    return None


def _only_globals(args: list[str]) -> bool:
    """`-n x --version` or `--context c --help` are about the group, not an implicit `rollback`."""
    rest, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in VALUED:
            skip = True
        elif arg.split("=", 1)[0] not in VALUED and arg not in ("-v", "--verbose", "--debug", "--no-color"):
            rest.append(arg)
    return set(rest) <= {"-h", "--help", "--version", "--self-check"}


def _self_check(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        from kubectl_prefect_rollback import selfcheck

        ctx.exit(selfcheck.main())


@click.group(cls=Group, context_settings=CONTEXT)
@global_options
# hidden: for packaging tests and for operators asking "is this binary whole?" (see selfcheck.py)
@click.option(
    "--self-check", is_flag=True, hidden=True, is_eager=True, expose_value=False, callback=_self_check
)
@click.version_option(
    __version__, "--version", prog_name="kubectl-prefect_rollback", message="%(prog)s %(version)s"
)
def cli() -> None:
    """Roll a Prefect Customer-Managed release back: downgrade its databases with the newer image,
    then the chart, safely and resumably.

    \b
    Without a command, the arguments are for `rollback`:
      helm prefect-rollback --to 1.2.0
      kubectl prefect-rollback plan --to 1.2.0 -n customer-managed

    Exit codes: 0 ok, 1 error, 2 usage, 3 refused by a safety check or missing confirmation,
    4 downgrade failed, 5 helm upgrade failed, 6 verification failed, 130 interrupted (SIGINT),
    143 terminated (SIGTERM), 129 hung up (SIGHUP).
    """


@click.command("completion")
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


@click.command(
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


# Added by name, not by an import's side effect: what the group holds is visible here, and PyInstaller
# sees every wiring module as a plain import of this one.
for _command in (*cli_read.COMMANDS, *cli_plan.COMMANDS, *cli_recover.COMMANDS, completion_cmd, complete_cmd):
    cli.add_command(_command)


def main() -> None:
    try:
        # click would derive the completion variable from the shown name, which has a space in it
        cli.main(
            prog_name=prog_name(), complete_var="_KUBECTL_PREFECT_ROLLBACK_COMPLETE", standalone_mode=True
        )
    except KeyboardInterrupt:  # a second Ctrl-C during cleanup (onefile bootloaders forward it twice)
        from kubectl_prefect_rollback import interrupt

        sys.exit(interrupt.exit_code(interrupt.received()) if interrupt.received() else ExitCode.INTERRUPTED)
