# PyInstaller entry point: the same `main` as the console script (setup.cfg).
#
# `--version` alone is answered before click is imported: in the frozen app importing click is about
# a third of the start-up time, and `--version` is what scripts and `kubectl plugin list` users run.
# The text is click's version_option message in cli.py; tests/test_packaging.py checks they agree.
import sys

if sys.argv[1:] == ["--version"]:
    from kubectl_prefect_rollback import __version__

    print(f"kubectl-prefect_rollback {__version__}")
    sys.exit(0)

from kubectl_prefect_rollback.cli import main  # noqa: E402

main()
