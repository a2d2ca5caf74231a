"""The options and option callbacks the subcommands share (click only), and the one place where the
global options become a `commands.config.Config`.

Kept light on purpose: `--version` and `--help` import neither yaml nor the rollback machinery, so
everything past click is imported inside the callbacks.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import click

from kubectl_prefect_rollback import constants, durations

OUTPUTS = click.Choice(["table", "json", "yaml"])
HELM_TIMEOUT = durations.go(constants.HELM_TIMEOUT)  # --helm-timeout's default as --help shows it (10m)

# Options that take a value, to find the subcommand among the arguments.
VALUED = {
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


def verbose(ctx: click.Context) -> bool:
    g = ctx.find_root().meta.get("globals", {})
    return bool(g.get("verbose")) or (
        bool(os.environ.get("HELM_PLUGIN_NAME")) and os.environ.get("HELM_DEBUG") == "true"
    )


def prog_name() -> str:
    if os.environ.get("HELM_PLUGIN_NAME"):
        return f"helm {os.environ['HELM_PLUGIN_NAME']}"
    base = os.path.basename(sys.argv[0] if sys.argv else "")
    return "kubectl prefect-rollback" if base.startswith("kubectl-") else (base or "kubectl-prefect_rollback")


def config_of(ctx: click.Context):  # -> commands.config.Config
    """The global options as typed (None: not given), handed to the commands layer as plain values."""
    from kubectl_prefect_rollback.commands import config

    root = ctx.find_root()
    g = root.meta.get("globals", {})
    return config.make(
        namespace=g.get("namespace"),
        context=g.get("context"),
        kubeconfig=g.get("kubeconfig"),
        release=g.get("release"),
        request_timeout=g.get("request_timeout"),
        no_color=bool(g.get("no_color")),
        verbose=verbose(ctx),
        argv=tuple(root.meta.get("argv", ())),
        prog=root.info_name or prog_name(),
    )


def complete_versions(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """`--to` candidates: the chart versions in the release's helm history, newest first.

    Runs while the user presses TAB, so it is quiet: any error (no cluster, no helm, several releases)
    simply yields no candidates.
    """
    try:
        from kubectl_prefect_rollback.commands import read

        return read.chart_versions(config_of(ctx), incomplete)
    except Exception:  # noqa: BLE001 (completion must never fail loudly)
        return []


def duration_option(*decls: str, default: str, help: str | None = None) -> Callable:
    """A time flag: shown with its default, parsed by `duration` before anything runs."""
    return click.option(
        *decls, default=default, show_default=True, callback=duration, metavar="DURATION", help=help
    )


def duration(ctx: click.Context, param: click.Parameter, value: Any) -> float | None:
    """Every time flag through durations.parse: `garbage`, `0` and `-1s` are refused before anything runs."""
    from kubectl_prefect_rollback import durations

    if value is None:
        return None
    return durations.parse(str(value), flag=_long(param))


def _long(param: click.Parameter) -> str:
    return max(param.opts, key=len)


def name(rule: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """A name flag (--pod, --container) must follow Kubernetes' rule: `-x` would read as a flag."""

    def check(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        from kubectl_prefect_rollback import names

        return None if value is None else names.flag(value, _long(param), rule=rule)

    return check


def not_empty(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    from kubectl_prefect_rollback.errors import BadInput

    if value is not None and not str(value).strip():
        raise BadInput(f"{_long(param)} is empty")
    return value


def backup_options(f: Callable) -> Callable:
    from kubectl_prefect_rollback.backup_pod import DEFAULT_IMAGE, DEFAULT_URL_ENV

    defaults = ", ".join(f"{db}={env}" for db, env in DEFAULT_URL_ENV.items())
    opts = [
        click.option(
            "--backup-image",
            default=DEFAULT_IMAGE,
            show_default=True,
            callback=not_empty,
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
        duration_option("--backup-timeout", default="1h", help="Bound of one database's dump or restore."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f
