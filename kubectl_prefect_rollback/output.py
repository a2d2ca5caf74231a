"""What the operator sees. Data goes to stdout; talk, progress and logs go to stderr.

Colours only on a TTY and never with NO_COLOR or --no-color.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Sequence
from typing import Any

import click

_DB_COLOURS = ("cyan", "magenta", "yellow", "blue", "green")

# What `Output.ask` raises on Ctrl-C or end of input at the prompt (click's, named here so that the
# commands catch it without importing click themselves).
PromptAborted = click.exceptions.Abort


def use_colour(no_color: bool = False) -> bool:
    return not no_color and "NO_COLOR" not in os.environ and sys.stderr.isatty()


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}m{s:02d}s" if m < 60 else f"{m // 60}h{m % 60:02d}m"


class Output:
    def __init__(self, colour: bool = False) -> None:
        self.colour = colour
        self._lock = threading.Lock()

    def _style(self, text: str, **kw: Any) -> str:
        return click.style(text, **kw) if self.colour else text

    def say(self, message: str = "") -> None:
        with self._lock:
            click.echo(message, err=True)

    def ok(self, message: str, seconds: float | None = None) -> None:
        tail = f"  {duration(seconds)}" if seconds is not None else ""
        self.say(f"{self._style('✔', fg='green')} {message}{self._style(tail, dim=True)}")

    def skip(self, message: str) -> None:
        self.say(f"{self._style('↷', fg='blue')} skipping: {message}")

    def warn(self, message: str) -> None:
        self.say(f"{self._style('!', fg='yellow', bold=True)} {message}")

    def fail(self, message: str) -> None:
        self.say(f"{self._style('✖', fg='red', bold=True)} {message}")

    def progress(self, message: str) -> None:
        self.say(f"{self._style('…', dim=True)} {message}")

    def log_line(self, prefix: str, index: int, line: str) -> None:
        """A line of a migration container's log: redacted, since migration tools echo their database URL
        (SQLAlchemy's engine logging, a shell's `set -x` over `export PGPASSWORD=…`)."""
        from kubectl_prefect_rollback.redact import text

        tag = self._style(f"[{prefix}]", fg=_DB_COLOURS[index % len(_DB_COLOURS)])
        self.say(f"  {tag} {text(line)}")

    def ask(self, question: str) -> str:
        return str(click.prompt(question, default="", show_default=False, err=True))

    def data(self, text: str) -> None:
        click.echo(text.rstrip("\n"))


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers], *[["" if c is None else str(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells)


def render(doc: Any, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(doc, indent=2)
    import yaml

    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)
