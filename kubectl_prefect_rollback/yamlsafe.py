"""The one YAML loader of the package: safe tags only, no aliases, bounded depth.

Everything we parse comes from somewhere we do not control (a chart's hooks, a kubeconfig, a values
file). An alias chain of a few hundred bytes expands to megabytes once printed (`plan -o json`), and
deep nesting ends in RecursionError; both become a ParseError naming where the text came from.
"""

from __future__ import annotations

from typing import Any

import yaml

from kubectl_prefect_rollback.errors import ParseError

MAX_DEPTH = 64  # a Kubernetes object nests about 15 deep; values files rarely more than 10


class _Refused(yaml.YAMLError):
    pass


class Loader(yaml.SafeLoader):
    """SafeLoader whose composer refuses aliases and counts nesting."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise _Refused(f"YAML aliases (*name) are not accepted (line {mark.line + 1})")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise _Refused(f"nested deeper than {MAX_DEPTH} levels (line {mark.line + 1})")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load(text: str | bytes, *, what: str) -> Any:
    """One YAML document (None when empty); a ParseError saying `what` could not be read otherwise."""
    loader = None
    try:
        loader = Loader(text)  # reading starts here: undecodable bytes fail already
        return loader.get_single_data()
    except yaml.YAMLError as e:
        raise ParseError(f"{what} is not valid YAML: {_one_line(e)}") from None
    except RecursionError:
        raise ParseError(f"{what} is nested too deeply to read") from None
    finally:
        if loader is not None:
            loader.dispose()


def load_mapping(text: str | bytes, *, what: str) -> dict[str, Any]:
    """A document that must be a mapping (or empty, which is {})."""
    data = load(text, what=what)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParseError(f"{what} is not a YAML mapping but a {type(data).__name__}")
    return data


def _one_line(e: Exception) -> str:
    problem, mark = getattr(e, "problem", None), getattr(e, "problem_mark", None)
    if problem and mark is not None:
        return f"{problem} (line {mark.line + 1}, column {mark.column + 1})"
    return " ".join(str(e).split())
