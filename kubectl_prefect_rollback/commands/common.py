"""What several commands say or ask: the confirmation by release name, the probe pods left behind,
the report file, and the command that resumes a run."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from typing import Any

from kubectl_prefect_rollback import interrupt, probe, rollback
from kubectl_prefect_rollback.commands.config import Config
from kubectl_prefect_rollback.errors import Interrupted, Refused
from kubectl_prefect_rollback.output import Output, PromptAborted
from kubectl_prefect_rollback.redact import argv as redact_argv


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def confirm_release(
    out: Output, release: str, question: str, *, refusal: str, hint: str, warning: str = ""
) -> None:
    """Without a terminal refuse; with one, the operator types the release name (Ctrl-C: nothing done)."""
    if not stdin_is_terminal():
        raise Refused(refusal, hint=hint)
    if warning:
        out.say(warning)
    try:
        answer = out.ask(question)
    except PromptAborted:  # click turns Ctrl-C at a prompt into Abort (exit 1)
        if interrupt.received():
            raise Interrupted("Interrupted at the confirmation: nothing was changed.") from None
        raise
    if answer.strip() != release:
        raise Refused(f"confirmation did not match {release!r}: nothing was changed")


def warn_probes(out: Output) -> None:
    for name in probe.settle():  # the deletes run behind the plan: joined here
        out.warn(f"could not delete probe pod {name}: the next rollback deletes it (it holds the Job's env)")
    probe.undeleted.clear()


def write_report(path: str | None, report: Callable[[], dict[str, Any]], out: Output) -> None:
    """An unwritable report warns; it never changes the command's own exit code."""
    if not path:
        return
    try:
        rollback.write_report(path, report())
    except OSError as e:
        out.warn(f"could not write report {path}: {e.strerror or e}")


def resume_command(cfg: Config) -> str:
    """The command as typed (secrets redacted), with the namespace spelled out: in helm plugin mode
    helm took -n and --kube-context out of our arguments."""
    argv = list(cfg.argv)
    words = {a.split("=", 1)[0] for a in argv}
    if not words & {"-n", "--namespace"}:
        argv += ["-n", cfg.target.namespace]
    if cfg.target.context and not words & {"--context", "--kube-context"}:
        argv += ["--kube-context" if cfg.prog.startswith("helm") else "--context", cfg.target.context]
    if not words & {"-y", "--yes"}:
        argv.append("--yes")  # the confirmation was given for this rollback already
    return f"{cfg.prog} {shlex.join(redact_argv(argv))}"
