"""The fakes behave as processes whichever way they start (the zygote's client or the Python shim): what
the plugin's proc.py relies on — exit codes, the three pipes, argv[0], environment and cwd, timeouts
stopping them by signal, and a SIGKILLed child taking its fake with it; and the client is compiled once."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from kubesim.tools import require_tool
from tests.fakes.fixture import SHIM, Fake, chart_tgz


@pytest.fixture(params=["zygote", "shim"])
def any_fake(request, tmp_path, monkeypatch, fake_launcher) -> Fake:
    if request.param == "zygote" and fake_launcher is SHIM:
        require_tool("cc")  # no compiler: the fakes run as shims; this case skips here, fails in CI
        pytest.skip("the zygote is off: FAKE_ZYGOTE=0, or no os.pidfd_open here")
    return Fake(tmp_path, monkeypatch, fake_launcher if request.param == "zygote" else SHIM).install()


def start(*argv: str, stdin=subprocess.DEVNULL) -> subprocess.Popen:
    """As proc.py starts a child: its own session, pipes."""
    return subprocess.Popen(
        list(argv), stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )


def wait_logged(fake: Fake, verb: str) -> None:
    deadline = time.monotonic() + 30
    while not any(c["argv"][:1] == [verb] for c in fake.calls()):
        assert time.monotonic() < deadline, f"{verb} never logged"
        time.sleep(0.02)


def test_exit_code_stdout_and_stderr_pass_through(any_fake) -> None:
    any_fake.fail("kubectl", r"^get ", code=7, stdout="some out\n", stderr="Error: boom\n")
    p = subprocess.run(["kubectl", "get", "pods"], capture_output=True, text=True)
    assert (p.returncode, p.stdout, p.stderr) == (7, "some out\n", "Error: boom\n")


def test_stdin_argv0_environment_and_cwd_are_the_callers(any_fake, tmp_path) -> None:
    with any_fake.edit() as st:
        st["record_stdin"] = True
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    env = {**os.environ, "HELM_NAMESPACE": "from-env"}
    p = subprocess.run(
        ["kubectl", "apply", "-f", "-"],
        input='{"kind": "Pod"}',
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
    )
    call = any_fake.calls("kubectl")[-1]
    assert call["stdin_text"] == '{"kind": "Pod"}' and call["stdin_kind"] == "Pod", p.stderr
    assert call["argv0"] == str(any_fake.bin / "kubectl")
    assert call["env"]["HELM_NAMESPACE"] == "from-env"
    chart_tgz(cwd / "here.tgz", "9.9.9")  # a relative path: found only from the caller's cwd
    shown = subprocess.run(["helm", "show", "chart", "here.tgz"], capture_output=True, text=True, cwd=cwd)
    assert shown.returncode == 0 and "version: 9.9.9" in shown.stdout, shown.stderr


def test_a_variable_the_call_before_had_is_gone_from_the_next_and_back_after(any_fake) -> None:
    """The zygote keeps the last call's environment between calls: a call with another one must not
    see what the one before had set, nor miss it when it brings it again."""
    seen = []
    for ns in ("first", None, "first"):
        env = {k: v for k, v in os.environ.items() if k != "HELM_NAMESPACE"}
        env.update({"HELM_NAMESPACE": ns} if ns else {})
        argv = ["kubectl", "get", "pods", "-n", "customer-managed", "-o", "json"]
        subprocess.run(argv, env=env, capture_output=True, check=True)
        seen.append(any_fake.calls("kubectl")[-1]["env"].get("HELM_NAMESPACE"))
    assert seen == ["first", None, "first"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_to_the_child_ends_the_fake_and_the_child_dies_of_it(any_fake, sig) -> None:
    any_fake.hold("kubectl", r"^get ", 30)
    p = start("kubectl", "get", "pods")
    wait_logged(any_fake, "get")
    os.killpg(p.pid, sig)  # proc.py's stop_group
    _, err = p.communicate(timeout=10)
    if sig == signal.SIGINT:  # Python's KeyboardInterrupt, then death by SIGINT, as a fresh python
        assert p.returncode == -sig and b"KeyboardInterrupt" in err
    else:
        assert p.returncode == -sig


def test_a_sigkilled_child_takes_its_fake_with_it(any_fake) -> None:
    any_fake.hold("kubectl", r"^get ", 30)
    p = start("kubectl", "get", "pods")
    wait_logged(any_fake, "get")
    t0 = time.monotonic()
    os.killpg(p.pid, signal.SIGKILL)
    # EOF on stdout comes only when every holder of its write end (the fake) is gone
    assert p.stdout.read() == b""  # type: ignore[union-attr]
    assert time.monotonic() - t0 < 10 and p.wait(timeout=10) == -signal.SIGKILL


def test_ignored_signal_stays_ignored_in_the_fake(any_fake) -> None:
    """helm's deaf variant aside, a child that inherits SIGTERM ignored must not die of it."""
    any_fake.hold("kubectl", r"^get ", 30, released=True)
    p = subprocess.Popen(
        ["kubectl", "get", "pods", "-n", "customer-managed", "-o", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN),
    )
    wait_logged(any_fake, "get")
    os.killpg(p.pid, signal.SIGTERM)
    time.sleep(0.3)  # a fake that took the signal would be dead by now (a signal not taken shows no state)
    any_fake.release()
    out, err = p.communicate(timeout=10)
    assert p.returncode == 0 and b'"items"' in out, err


def test_the_client_is_compiled_once_and_every_later_zygote_takes_it_compiled(tmp_path, monkeypatch) -> None:
    from tests.fakes import fixture

    cc = require_tool("cc")
    compiled: list[Path] = []
    real = fixture._compile
    monkeypatch.setattr(fixture, "_compile", lambda *a: compiled.append(a[2]) or real(*a))
    monkeypatch.setattr(fixture, "CLIENT_CACHE", tmp_path / "cache")
    clients = []
    for n in range(2):
        (tmp_path / str(n)).mkdir()
        clients.append(fixture._client(cc, tmp_path / str(n)))
    assert len(compiled) == 1 and clients[0] == clients[1] and clients[0].parent == tmp_path / "cache"
    assert oct((tmp_path / "cache").stat().st_mode & 0o777) == "0o700"
    (tmp_path / "cache").chmod(0o777)  # not ours alone any more: not used
    (tmp_path / "2").mkdir()
    assert fixture._client(cc, tmp_path / "2") == tmp_path / "2" / "fake-client" and len(compiled) == 2
