pytest_plugins = ["tests.kubesim.fixture"]
pytest_plugins += ["tests.fakes.fixture"]
