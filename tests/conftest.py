import os

# rollbacks in the unit tests revert migrations that drop data; tests of backups unset it
os.environ.setdefault("PREFECT_ROLLBACK_BACKUPS_CONFIRMED", "1")

pytest_plugins = ["kubesim.fixture"]
pytest_plugins += ["tests.fakes.fixture"]
