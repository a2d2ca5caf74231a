import os

import pytest

# rollbacks in the unit tests revert migrations that drop data; tests of backups unset it
os.environ.setdefault("PREFECT_ROLLBACK_BACKUPS_CONFIRMED", "1")

pytest_plugins = ["kubesim.fixture"]
pytest_plugins += ["tests.fakes.fixture"]


@pytest.fixture
def plugin_handlers():
    """The plugin's signal handlers in this (the main) thread, as the CLI installs them; pytest's own are
    put back afterwards."""
    import signal

    from kubectl_prefect_rollback import interrupt

    saved = {sig: signal.getsignal(sig) for sig in interrupt.SIGNALS}
    interrupt.install()
    try:
        yield interrupt
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        interrupt.reset()


def pytest_runtest_teardown(item: pytest.Item) -> None:
    """-v echoes every command (commands.config._echo_commands sets the proc logger to DEBUG, once per
    process in real life): put it back, or every later test in this worker redacts and echoes each argv
    it runs to a stderr long gone (a tenth of the in-process CPU)."""
    import logging

    log = logging.getLogger("kubectl_prefect_rollback.proc")
    log.setLevel(logging.NOTSET)
    log.handlers = []


@pytest.fixture(autouse=True)
def probe_deletes_joined():
    """Every command joins the probe-pod deletes it left running behind its plan (warn_probes): one
    left running would outlive its test, and a failed delete would go unsaid."""
    yield
    import sys

    probe = sys.modules.get("kubectl_prefect_rollback.probe")
    if probe is None:
        return
    left = [t.name for t in probe._deleting]
    probe.settle()
    probe.undeleted.clear()
    assert not left, f"left running after the command: {left}"
