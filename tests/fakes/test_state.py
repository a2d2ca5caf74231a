"""The fakes' shared world (state.py): a state read back unchanged is neither encoded nor written, a
changed one is, and a call takes the lock once unless a rule holds it."""

from __future__ import annotations

import json
import os
import sys

import pytest

from tests.fakes import state


@pytest.fixture
def world(tmp_path, monkeypatch):
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"objects": {"a": {"n": 1, "s": "x"}}, "failures": []}))
    monkeypatch.setenv("FAKE_STATE", str(path))
    monkeypatch.setenv("FAKE_CALLS", str(tmp_path / "calls.jsonl"))
    monkeypatch.setattr(state, "_seen", {})
    return path


def test_a_state_read_back_unchanged_is_neither_encoded_nor_written(world, monkeypatch) -> None:
    with state.locked(str(world)) as st:  # the first read: the text is new to this process
        assert st["objects"]["a"]["n"] == 1
    before = os.stat(world)

    def encode(*_a, **_k):
        raise AssertionError("an unchanged state was JSON-encoded")

    monkeypatch.setattr(state.json, "dumps", encode)
    for _ in range(2):
        with state.locked(str(world)) as st:
            st["objects"]["a"]["s"] = "x"  # the same value again is no change
    after = os.stat(world)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_a_changed_state_is_written_back_and_read_as_written(world) -> None:
    with state.locked(str(world)) as st:
        st["objects"]["a"]["n"] = 2
    assert json.loads(world.read_text())["objects"]["a"]["n"] == 2
    with state.locked(str(world)) as st:
        assert st["objects"]["a"]["n"] == 2


def test_in_the_zygote_a_call_takes_the_object_left_unless_the_call_before_raised(world, monkeypatch) -> None:
    monkeypatch.setattr(state, "SHARED", True)
    with state.locked(str(world)) as first:
        pass
    with state.locked(str(world)) as st:
        assert st is first  # no copy: nothing of it outlives a call
    with pytest.raises(RuntimeError), state.locked(str(world)) as st:
        st["objects"]["a"]["n"] = 5
        raise RuntimeError("the fake failed half way through its change")
    with state.locked(str(world)) as st:
        assert st["objects"]["a"]["n"] == 1, "a failed call's half-made change leaked into the next"


def _run(monkeypatch, argv: list[str]) -> tuple[int, int]:
    """state.main over a handle that counts itself; (locks taken, exit code)."""
    locks = []
    real = state.locked

    def counting(path):
        locks.append(path)
        return real(path)

    def handle(st, argv, stdin):
        st["handled"] = st.get("handled", 0) + 1

    monkeypatch.setattr(state, "locked", counting)
    monkeypatch.setattr(sys, "argv", ["kubectl", *argv])
    monkeypatch.setattr(state, "read_stdin", lambda: None)
    with pytest.raises(SystemExit) as e:
        state.main("kubectl", handle)
    return len(locks), e.value.code


def test_a_call_takes_the_lock_once_logged_and_handled_unless_a_rule_holds_it(world, monkeypatch) -> None:
    assert _run(monkeypatch, ["get", "pods"]) == (1, 0)
    with state.locked(str(world)) as st:
        st["failures"].append({"prog": "kubectl", "match": "^get ", "nth": 2, "hold": 0.01})
    assert _run(monkeypatch, ["get", "pods"]) == (1, 0)  # the rule's first match is its nth - 1
    assert _run(monkeypatch, ["get", "pods"]) == (2, 0)  # held: logged, waits, then handled
    logged = [json.loads(line)["argv"] for line in open(os.environ["FAKE_CALLS"])]
    assert logged == [["get", "pods"]] * 3
    assert json.loads(world.read_text())["handled"] == 3
