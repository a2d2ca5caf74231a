# PyInstaller entry point: the same `main` as the console script (setup.cfg), nothing else.
from kubectl_prefect_rollback.cli import main

main()
