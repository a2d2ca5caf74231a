"""proc: the one door to child processes — readable errors, missing binaries, redaction, and the
environment children get under PyInstaller."""

from __future__ import annotations

import sys

import pytest

from kubectl_prefect_rollback import proc


def test_error_names_command_and_stderr(fake) -> None:
    fake.fail("kubectl", r"^get ", code=1, stderr="Error from server (Forbidden): pods is forbidden\n")
    with pytest.raises(proc.CommandError) as e:
        proc.run("kubectl", "get", "pods", "--output", "json")
    assert e.value.returncode == 1 and not e.value.not_found
    assert str(e.value) == (
        "`kubectl get pods --output json` exited 1: Error from server (Forbidden): pods is forbidden"
    )


def test_no_stderr_and_multiline_argument() -> None:
    err = proc.CommandError(("sh", "-c", "echo one\necho two"), 3, "")
    assert str(err) == "`sh -c 'echo one …'` exited 3: (no stderr)"


def test_missing_binary_is_127(tmp_path) -> None:
    with pytest.raises(proc.CommandError) as e:
        proc.run(str(tmp_path / "no-such-kubectl"), "version")
    assert e.value.returncode == 127 and e.value.not_found
    assert "not found on PATH" in str(e.value)
    with pytest.raises(proc.CommandError) as e:
        proc.Stream((str(tmp_path / "no-such-kubectl"), "logs"))
    assert e.value.not_found


def test_not_executable_is_126(tmp_path) -> None:
    f = tmp_path / "kubectl"
    f.write_text("#!/bin/sh\n")
    with pytest.raises(proc.CommandError) as e:
        proc.run(str(f))
    assert e.value.returncode == 126


def test_stdin_reaches_the_child_and_devnull_otherwise(fake) -> None:
    with fake.edit() as st:
        st["record_stdin"] = True
    proc.run("helm", "upgrade", "--install", "r", "./prefect-cloud-1.2.0.tgz", "-f", "-", stdin="a: 1\n")
    proc.run("kubectl", "get", "pods", "--namespace", "customer-managed", "--output", "json")
    up, get = fake.calls()
    assert up["stdin"] and up["stdin_text"] == "a: 1\n"
    assert not get["stdin"]


@pytest.mark.parametrize(
    ("argv", "want"),
    [
        (["helm", "upgrade", "--set", "db.password=x"], ["helm", "upgrade", "--set", "<redacted>"]),
        (["helm", "--set-string=a=b"], ["helm", "--set-string=<redacted>"]),
        (["kubectl", "--token", "abc", "get"], ["kubectl", "--token", "<redacted>", "get"]),
        (["x", "DB_PASSWORD=hunter2", "name=ok"], ["x", "DB_PASSWORD=<redacted>", "name=ok"]),
        (["helm", "list", "--namespace", "prod"], ["helm", "list", "--namespace", "prod"]),
    ],
)
def test_redaction(argv: list[str], want: list[str]) -> None:
    assert proc.redact_argv(argv) == want
    assert "hunter2" not in str(proc.CommandError(argv, 1, "boom"))


@pytest.mark.parametrize(
    ("env", "frozen", "want"),
    [
        (
            {"LD_LIBRARY_PATH": "/tmp/_MEI123", "LD_LIBRARY_PATH_ORIG": "/usr/lib/gcloud"},
            True,
            "/usr/lib/gcloud",
        ),
        ({"LD_LIBRARY_PATH": "/tmp/_MEI123"}, True, None),
        ({"LD_LIBRARY_PATH": "/opt/mine"}, False, "/opt/mine"),
    ],
    ids=["restored", "unset", "not-frozen-untouched"],
)
def test_child_env(monkeypatch, env: dict, frozen: bool, want: str | None) -> None:
    for var in ("LD_LIBRARY_PATH", "LD_LIBRARY_PATH_ORIG"):
        monkeypatch.delenv(var, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(sys, "frozen", frozen, raising=False)
    child = proc.child_env()
    assert child.get("LD_LIBRARY_PATH") == want
    assert "LD_LIBRARY_PATH_ORIG" not in child


def test_child_sh_sees_no_bundle_path(monkeypatch) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setenv("LD_LIBRARY_PATH", "/tmp/_MEIbundle")
    monkeypatch.delenv("LD_LIBRARY_PATH_ORIG", raising=False)
    out = proc.run("sh", "-c", 'printf "%s|%s" "${LD_LIBRARY_PATH-unset}" "${LD_LIBRARY_PATH_ORIG-unset}"')
    assert out == "unset|unset"
    monkeypatch.setenv("LD_LIBRARY_PATH_ORIG", "/usr/local/lib")
    out = proc.run("sh", "-c", 'printf "%s|%s" "${LD_LIBRARY_PATH-unset}" "${LD_LIBRARY_PATH_ORIG-unset}"')
    assert out == "/usr/local/lib|unset"


def test_fakes_see_the_restored_path(fake, monkeypatch) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setenv("LD_LIBRARY_PATH", "/tmp/_MEIbundle")
    monkeypatch.setenv("LD_LIBRARY_PATH_ORIG", "/usr/lib/aws")
    assert fake.cli("history").exit_code == 0
    assert all(c["env"].get("LD_LIBRARY_PATH") == "/usr/lib/aws" for c in fake.calls())
    assert all("LD_LIBRARY_PATH_ORIG" not in c["env"] for c in fake.calls())


# --- bounds: a hung child becomes an error naming the command and the bound ---------------------------


def test_hung_read_is_stopped_at_its_bound_naming_it(tmp_path, monkeypatch) -> None:
    import time

    monkeypatch.setattr(proc, "limits", proc.Limits(request=0.2))
    monkeypatch.setattr(proc, "GRACE", 0.1)
    t0 = time.monotonic()
    with pytest.raises(proc.CommandTimeout) as e:
        proc.run("sleep", "30")
    assert time.monotonic() - t0 < 5
    assert str(e.value) == "`sleep 30` did not finish within 0.3s (--request-timeout 0.2s); stopped it"
    assert e.value.returncode == 124


def test_step_timeout_names_its_flag(tmp_path) -> None:
    with pytest.raises(proc.CommandTimeout) as e:
        proc.run("sleep", "30", timeout=0.2, bound="--probe-timeout 0.2s", mode=proc.WRITE)
    assert "did not finish within 0.2s (--probe-timeout 0.2s)" in str(e.value)


def test_child_runs_in_its_own_session_so_a_terminal_ctrl_c_misses_it() -> None:
    import os

    out = proc.run(sys.executable, "-c", "import os; print(os.getsid(0))")
    assert int(out) != os.getsid(0)


def test_stdin_reaches_a_child_that_takes_a_while() -> None:
    """The wait loop polls for signals; the data on stdin is handed over once, whole."""
    script = "import sys, time; time.sleep(0.3); print(len(sys.stdin.read()))"
    assert proc.run(sys.executable, "-c", script, stdin="x" * 200_000).strip() == "200000"


def test_a_child_that_dies_of_the_signal_we_got_was_stopped_not_failed() -> None:
    """A terminal's Ctrl-C can reach a child before its setsid: it dies of our SIGINT. That is the
    signal stopping the run (exit 130 and the resume), not a command that failed (`exited -2`)."""
    import signal
    import threading

    from kubectl_prefect_rollback import interrupt

    def ctrl_c() -> None:
        interrupt._s.signum = signal.SIGINT
        interrupt._s.stop.set()

    script = "import os, signal, time; time.sleep(0.3); signal.signal(2, 0); os.kill(os.getpid(), 2)"
    interrupt.reset()
    threading.Timer(0.05, ctrl_c).start()
    try:
        with pytest.raises(interrupt.Stopped):
            proc.run(sys.executable, "-c", script, mode=proc.WRITE)  # a write is let finish: no stop_group
    finally:
        interrupt.reset()


def test_gather_runs_the_handler_of_a_signal_a_worker_thread_took(plugin_handlers) -> None:
    """The kernel gives a process's signal to any thread not blocking it, often a worker that just
    spawned a child. CPython then only flags it for the main thread: gather must not sleep through it
    (an untimed join) until its slowest call ends, or reads go on and a held write runs to its end."""
    import signal
    import threading
    import time

    interrupt = plugin_handlers

    def took_the_signal() -> bool:
        time.sleep(0.2)  # the main thread waits by now
        signal.pthread_kill(threading.get_ident(), signal.SIGTERM)  # this thread takes it, not the main one
        deadline = time.monotonic() + 3
        while not interrupt.stopping() and time.monotonic() < deadline:
            time.sleep(0.01)
        return interrupt.stopping()

    t0 = time.monotonic()
    with interrupt.busy():  # as in a step: the handler flags the stop instead of raising here
        seen, _ = proc.gather(took_the_signal, lambda: None)
    assert seen, "the handler did not run while gather waited for its calls"
    assert time.monotonic() - t0 < 1
    assert interrupt.received() == signal.SIGTERM
