"""The one YAML loader of the package: safe tags only, no aliases, bounded depth.

Everything we parse comes from somewhere we do not control (a chart's hooks, a kubeconfig, a values
file). An alias chain of a few hundred bytes expands to megabytes once printed (`plan -o json`), and
deep nesting ends in RecursionError; both become a ParseError naming where the text came from.

Reading and parsing run in libyaml when PyYAML has it (about 8x faster on chart manifests, and every
command reads a kubeconfig); composing stays in Python, where aliases and depth are checked.
"""

from __future__ import annotations

import functools
import marshal
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from kubectl_prefect_rollback.errors import ParseError

MAX_DEPTH = 64  # a Kubernetes object nests about 15 deep; values files rarely more than 10


class _Refused(yaml.YAMLError):
    pass


try:  # libyaml's parser hands out the same events; its own composer (C) is not used
    from yaml._yaml import CParser as _Parser
except ImportError:  # PyYAML built without libyaml: the pure-Python reader, scanner and parser
    _Parser = None


if _Parser is not None:

    class _Base(Composer, _Parser, SafeConstructor, Resolver):  # Composer first: ours, in Python
        def __init__(self, stream: Any) -> None:
            _Parser.__init__(self, stream)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)

else:
    _Base = yaml.SafeLoader  # type: ignore[misc,assignment]

FAST = _Parser is not None


class Guard:
    """A composer step that refuses aliases and counts nesting, on top of either parser."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):  # type: ignore[attr-defined]
            mark = self.peek_event().start_mark  # type: ignore[attr-defined]
            raise _Refused(f"YAML aliases (*name) are not accepted (line {mark.line + 1})")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[attr-defined]
                raise _Refused(f"nested deeper than {MAX_DEPTH} levels (line {mark.line + 1})")
            return super().compose_node(parent, index)  # type: ignore[misc]
        finally:
            self._depth -= 1


class Loader(Guard, _Base):  # type: ignore[misc,valid-type]
    pass


def load(text: str | bytes, *, what: str) -> Any:
    """One YAML document (None when empty); a ParseError saying `what` could not be read otherwise.

    A text read before is not parsed again: a run reads the same chart documents from `helm template`,
    `helm get hooks` and the target chart. Each caller gets its own copy (marshal: several times
    cheaper than parsing); a document holding what marshal cannot copy (a timestamp) is parsed anew."""
    blob = _parsed(text)
    if blob is None:
        return _load(text, what)
    return marshal.loads(blob)


@functools.lru_cache(maxsize=128)
def _parsed(text: str | bytes) -> bytes | None:
    """The document marshalled, or None when it does not marshal. Errors are not kept: load() raises
    them again, naming the `what` of each caller."""
    try:
        return marshal.dumps(_load(text, "a document"))
    except ParseError:
        return None
    except ValueError:  # unmarshallable: a datetime (YAML timestamp)
        return None


def _load(text: str | bytes, what: str) -> Any:
    loader = None
    try:
        loader = Loader(text)  # reading starts here: undecodable bytes fail already
        return loader.get_single_data()
    except yaml.YAMLError as e:
        if "maximum nesting depth" in str(e):  # libyaml's own bound (1000) is deeper than ours
            raise ParseError(f"{what} is not valid YAML: nested deeper than {MAX_DEPTH} levels") from None
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
