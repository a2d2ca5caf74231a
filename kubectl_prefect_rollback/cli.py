"""Command-line wiring: options, plugin environments, and errors turned into exit codes once.

Kept light on purpose: `--version` and `--help` import neither yaml nor the rollback machinery.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import click

from kubectl_prefect_rollback import __version__
from kubectl_prefect_rollback.errors import ExitCode, Interrupted

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
OUTPUTS = click.Choice(["table", "json", "yaml"])

# Options that take a value, to find the subcommand among the arguments.
_VALUED = {
    "-n",
    "--namespace",
    "--context",
    "--kube-context",
    "--kubeconfig",
    "--release",
    "--request-timeout",
}


def _store(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if value not in (None, False, ()):
        ctx.find_root().meta.setdefault("globals", {})[param.name] = value


def global_options(f: Callable) -> Callable:
    """The same global options before or after the subcommand, as kubectl and helm users type them."""
    opts = [
        click.option(
            "-n",
            "--namespace",
            help="Namespace of the release (helm plugin: helm's -n).",
            expose_value=False,
            callback=_store,
        ),
        click.option(
            "--context",
            "--kube-context",
            "context",
            help="Kubeconfig context.",
            expose_value=False,
            callback=_store,
        ),
        click.option(
            "--kubeconfig",
            help="Kubeconfig file (default: $KUBECONFIG, ~/.kube/config).",
            expose_value=False,
            callback=_store,
        ),
        click.option(
            "--release",
            help="Helm release (default: the one prefect-cloud release in the namespace).",
            expose_value=False,
            callback=_store,
        ),
        click.option(
            "--request-timeout",
            metavar="DURATION",
            help="Bound of every single kubectl/helm call that does not wait for something "
            "(default 30s; also passed to kubectl).",
            expose_value=False,
            callback=_store,
        ),
        click.option(
            "-v",
            "--verbose",
            "--debug",
            "verbose",
            is_flag=True,
            help="Echo every kubectl/helm command (secrets redacted); tracebacks of unexpected errors.",
            expose_value=False,
            callback=_store,
        ),
        click.option(
            "--no-color",
            is_flag=True,
            help="No colours (also: NO_COLOR).",
            expose_value=False,
            callback=_store,
        ),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


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


def verbose(ctx: click.Context) -> bool:
    g = ctx.find_root().meta.get("globals", {})
    return bool(g.get("verbose")) or (
        bool(os.environ.get("HELM_PLUGIN_NAME")) and os.environ.get("HELM_DEBUG") == "true"
    )


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
        elif arg in _VALUED:
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
        elif arg in _VALUED:
            skip = True
        elif arg.split("=", 1)[0] not in _VALUED and arg not in ("-v", "--verbose", "--debug", "--no-color"):
            rest.append(arg)
    return set(rest) <= {"-h", "--help", "--version", "--self-check"}


def prog_name() -> str:
    if os.environ.get("HELM_PLUGIN_NAME"):
        return f"helm {os.environ['HELM_PLUGIN_NAME']}"
    base = os.path.basename(sys.argv[0] if sys.argv else "")
    return "kubectl prefect-rollback" if base.startswith("kubectl-") else (base or "kubectl-prefect_rollback")


def make_config(ctx: click.Context):  # -> commands.Config
    from kubectl_prefect_rollback import durations, interrupt, kubeconfig, output, proc
    from kubectl_prefect_rollback.commands import Config
    from kubectl_prefect_rollback.target import Target, default_binaries

    g = ctx.find_root().meta.get("globals", {})
    env = os.environ
    helm_mode = bool(env.get("HELM_PLUGIN_NAME"))
    # helm strips its global flags and hands them over as environment; empty HELM_KUBECONTEXT = unset
    context = g.get("context") or (env.get("HELM_KUBECONTEXT") or None if helm_mode else None)
    kubeconfig_path = (
        g["kubeconfig"]  # `--kubeconfig ''` is refused, not taken for "unset"
        if "kubeconfig" in g
        else (env.get("KUBECONFIG") or None if helm_mode else None)
    )
    from kubectl_prefect_rollback import names

    if "namespace" in g:  # `-n ''` must not fall back to the kubeconfig's namespace
        names.flag(g["namespace"], "-n/--namespace")
    if "release" in g:
        names.flag(g["release"], "--release", rule="release")
    namespace = g.get("namespace") or (env.get("HELM_NAMESPACE") if helm_mode else None)
    if not namespace:
        namespace = kubeconfig.context_namespace(kubeconfig_path, context) or "default"
    else:
        kubeconfig.context_namespace(kubeconfig_path, context)  # a broken kubeconfig is an error anyway
    names.flag(namespace, "the namespace" if "namespace" not in g else "-n/--namespace")
    kubectl_bin, helm_bin = default_binaries()
    proc.limits = proc.Limits(
        request=durations.parse(g.get("request_timeout") or "30s", flag="--request-timeout")
    )
    interrupt.install()  # from here on a signal stops work cleanly (see interrupt.py)
    if verbose(ctx):
        import logging

        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log = logging.getLogger("kubectl_prefect_rollback.proc")
        log.handlers = [handler]  # invoked twice in one process (tests, embedding): echo once, to this stderr
        log.setLevel(logging.DEBUG)
    return Config(
        target=Target(namespace, context, kubeconfig_path, kubectl_bin, helm_bin),
        release=g.get("release"),
        out=output.Output(colour=output.use_colour(bool(g.get("no_color")))),
        argv=tuple(ctx.find_root().meta.get("argv", ())),
        prog=ctx.find_root().info_name or prog_name(),
    )


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


def main() -> None:
    from kubectl_prefect_rollback import commands_cli  # noqa: F401  (registers the subcommands)

    try:
        # click would derive the completion variable from the shown name, which has a space in it
        cli.main(
            prog_name=prog_name(), complete_var="_KUBECTL_PREFECT_ROLLBACK_COMPLETE", standalone_mode=True
        )
    except KeyboardInterrupt:  # a second Ctrl-C during cleanup (onefile bootloaders forward it twice)
        from kubectl_prefect_rollback import interrupt

        sys.exit(interrupt.exit_code(interrupt.received()) if interrupt.received() else ExitCode.INTERRUPTED)
