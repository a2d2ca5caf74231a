"""kubectl_prefect_rollback/errors.py: the exit codes (as the README documents them), which error carries
which code, and the one message an operator reads: message, then hint, secrets redacted."""

from __future__ import annotations

import io
import re
import signal
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from kubectl_prefect_rollback import errors, interrupt
from kubectl_prefect_rollback.errors import ExitCode

README = Path(__file__).resolve().parent.parent / "README.md"
SECRET = "hunter2-in-a-url"


def documented_codes() -> dict[int, str]:
    """The README's exit-code table: code -> meaning ("129 / 130 / 143" is one row of three)."""
    section = README.read_text().split("\n## Exit codes\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"(?m)^\| ([\d /]+) \| (.+) \|$", section)
    return {int(code): meaning for codes, meaning in rows for code in codes.split(" / ")}


def test_the_enum_is_the_readme_table() -> None:
    assert {c.value: c.name for c in ExitCode} == {
        0: "OK",
        1: "ERROR",
        2: "USAGE",
        3: "REFUSED",
        4: "DOWNGRADE_FAILED",
        5: "HELM_FAILED",
        6: "VERIFY_FAILED",
        129: "HANGUP",
        130: "INTERRUPTED",
        143: "TERMINATED",
    }
    assert sorted(documented_codes()) == sorted(c.value for c in ExitCode)


def test_signal_codes_are_128_plus_the_signal() -> None:
    assert ExitCode.HANGUP == 128 + signal.SIGHUP
    assert ExitCode.INTERRUPTED == 128 + signal.SIGINT
    assert ExitCode.TERMINATED == 128 + signal.SIGTERM


@pytest.mark.parametrize(
    ("cls", "code", "meaning"),
    [
        (errors.RollbackError, 1, "error"),
        (errors.ParseError, 1, "malformed cluster answers"),
        (errors.BadInput, 2, "bad option value"),
        (errors.Refused, 3, "refused by a safety check"),
        (errors.DowngradeFailed, 4, "the downgrade failed"),
        (errors.HelmUpgradeFailed, 5, "helm upgrade failed"),
        (errors.VerifyFailed, 6, "verification failed"),
        (errors.AlreadyDone, 0, "the rollback had finished already"),
    ],
)
def test_each_error_carries_its_documented_exit_code(cls: type, code: int, meaning: str) -> None:
    e = cls("what happened")
    assert e.exit_code == code and isinstance(e, errors.RollbackError) and isinstance(e, click.ClickException)
    assert meaning in documented_codes()[code]


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)]
)
def test_interrupted_exits_128_plus_the_signal_it_names(signum: int, code: int) -> None:
    assert errors.Interrupted("Interrupted.", signum=signum).exit_code == code


@pytest.mark.parametrize(("received", "code"), [(None, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_interrupted_without_a_signal_takes_the_one_received(monkeypatch, received, code: int) -> None:
    """Ctrl-C seen as KeyboardInterrupt names no signal: the one the handler recorded decides (SIGINT if
    none)."""
    monkeypatch.setattr(interrupt, "received", lambda: received)
    e = errors.Interrupted("Interrupted.", hint="Resume: kubectl prefect-rollback --to 1.2.0")
    assert e.exit_code == code
    assert e.hint == "Resume: kubectl prefect-rollback --to 1.2.0"


def test_message_alone_without_a_hint() -> None:
    assert errors.Refused("release customer-managed is pending-upgrade").format_message() == (
        "release customer-managed is pending-upgrade"
    )


def test_hint_is_the_line_after_the_message() -> None:
    e = errors.RollbackError("helm: not found on PATH", hint="Is it installed and on PATH?")
    assert e.format_message() == "helm: not found on PATH\nIs it installed and on PATH?"
    out = io.StringIO()
    e.show(out)  # what click prints on stderr at the boundary
    assert out.getvalue() == "Error: helm: not found on PATH\nIs it installed and on PATH?\n"


def test_secrets_in_message_and_hint_are_redacted_only_when_shown() -> None:
    url = f"postgresql://nebula:{SECRET}@db:5432/nebula"
    e = errors.DowngradeFailed(f"container nebula exit 1: cannot connect to {url}", hint=f"check {url}")
    shown = e.format_message()
    assert SECRET not in shown
    assert shown == (
        "container nebula exit 1: cannot connect to postgresql://nebula:<redacted>@db:5432/nebula\n"
        "check postgresql://nebula:<redacted>@db:5432/nebula"
    )
    assert SECRET in e.message and SECRET in e.hint  # the raw text stays for code that handles it


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (errors.BadInput("'latest' is not a chart version"), 2),
        (errors.VerifyFailed("heads do not match"), 6),
        (errors.Interrupted("Interrupted.", signum=signal.SIGTERM), 143),
    ],
)
def test_a_raised_error_becomes_its_exit_status_and_one_error_line(exc: Exception, code: int) -> None:
    @click.command()
    def command() -> None:
        raise exc

    result = CliRunner().invoke(command, [])
    assert result.exit_code == code
    assert result.stderr == f"Error: {exc.message}\n"
    assert "Traceback" not in result.output
