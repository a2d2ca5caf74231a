pytest_plugins = ["tests.kubesim.fixture"]
