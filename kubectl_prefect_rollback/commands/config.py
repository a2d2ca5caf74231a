"""The settings every command gets, from the global options as typed and the plugin's environment.

Also the process-wide set-up a command needs before it talks to the cluster: call bounds, the signal
handlers, and `-v`'s command echo.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass

from kubectl_prefect_rollback import durations, interrupt, kubeconfig, names, output, proc
from kubectl_prefect_rollback.output import Output
from kubectl_prefect_rollback.target import Target, default_binaries


@dataclass(frozen=True)
class Config:
    target: Target
    release: str | None
    out: Output
    argv: tuple[str, ...] = ()  # as typed, for the `Resume:` line
    prog: str = "kubectl prefect-rollback"


def make(
    *,
    namespace: str | None,
    context: str | None,
    kubeconfig: str | None,
    release: str | None,
    request_timeout: str | None,
    no_color: bool,
    verbose: bool,
    argv: tuple[str, ...],
    prog: str,
) -> Config:
    """None means "not given"; an empty value that was given is checked, never taken for unset."""
    env = os.environ
    helm_mode = bool(env.get("HELM_PLUGIN_NAME"))
    # helm strips its global flags and hands them over as environment; empty HELM_KUBECONTEXT = unset
    context = context or (env.get("HELM_KUBECONTEXT") or None if helm_mode else None)
    if kubeconfig is None:  # `--kubeconfig ''` is refused later, not taken for "unset"
        kubeconfig = env.get("KUBECONFIG") or None if helm_mode else None
    if namespace is not None:  # `-n ''` must not fall back to the kubeconfig's namespace
        names.flag(namespace, "-n/--namespace")
    if release is not None:
        names.flag(release, "--release", rule="release")
    ns = _namespace(namespace, kubeconfig, context, env.get("HELM_NAMESPACE") if helm_mode else None)
    kubectl_bin, helm_bin = default_binaries()
    proc.limits = proc.Limits(request=durations.parse(request_timeout or "30s", flag="--request-timeout"))
    interrupt.install()  # from here on a signal stops work cleanly (see interrupt.py)
    if verbose:
        _echo_commands()
    return Config(
        target=Target(ns, context, kubeconfig, kubectl_bin, helm_bin),
        release=release,
        out=output.Output(colour=output.use_colour(no_color)),
        argv=argv,
        prog=prog,
    )


def _namespace(flag: str | None, kubeconfig_path: str | None, context: str | None, helm: str | None) -> str:
    namespace = flag or helm
    if not namespace:
        namespace = kubeconfig.context_namespace(kubeconfig_path, context) or "default"
    else:
        kubeconfig.context_namespace(kubeconfig_path, context)  # a broken kubeconfig is an error anyway
    names.flag(namespace, "the namespace" if flag is None else "-n/--namespace")
    return namespace


def _echo_commands() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = logging.getLogger("kubectl_prefect_rollback.proc")
    log.handlers = [handler]  # invoked twice in one process (tests, embedding): echo once, to this stderr
    log.setLevel(logging.DEBUG)
