"""Exit codes and the errors that carry them.

Library modules raise these; only the CLI boundary turns them into an exit status.
"""

from __future__ import annotations

import enum

import click


class ExitCode(enum.IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2
    REFUSED = 3
    DOWNGRADE_FAILED = 4
    HELM_FAILED = 5
    VERIFY_FAILED = 6
    HANGUP = 129  # 128 + SIGHUP
    INTERRUPTED = 130  # 128 + SIGINT
    TERMINATED = 143  # 128 + SIGTERM


class RollbackError(click.ClickException):
    """An error the operator can act on; its message is the whole story, no traceback."""

    exit_code = ExitCode.ERROR

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def format_message(self) -> str:
        from kubectl_prefect_rollback.redact import text

        # the last gate before the terminal: a message that quotes child output hides its secrets here
        return text(f"{self.message}\n{self.hint}" if self.hint else self.message)


class Refused(RollbackError):
    """A safety check said no (or confirmation is missing)."""

    exit_code = ExitCode.REFUSED


class BadInput(RollbackError):
    """The operator asked for something that cannot be (bad flag value, unknown version)."""

    exit_code = ExitCode.USAGE


class DowngradeFailed(RollbackError):
    exit_code = ExitCode.DOWNGRADE_FAILED


class HelmUpgradeFailed(RollbackError):
    exit_code = ExitCode.HELM_FAILED


class VerifyFailed(RollbackError):
    exit_code = ExitCode.VERIFY_FAILED


class ParseError(RollbackError):
    """Output from the cluster (exec listing, helm JSON, a manifest) is not what we expect."""


class AlreadyDone(RollbackError):
    """Nothing left to do (a finished rollback re-run): said on stderr, exit 0."""

    exit_code = ExitCode.OK


class Interrupted(RollbackError):
    """Stopped by a signal: 128 + its number (130 SIGINT, 143 SIGTERM, 129 SIGHUP)."""

    exit_code = ExitCode.INTERRUPTED

    def __init__(self, message: str, *, hint: str | None = None, signum: int | None = None) -> None:
        super().__init__(message, hint=hint)
        from kubectl_prefect_rollback import interrupt

        self.exit_code = interrupt.exit_code(signum or interrupt.received())
