pytest_plugins = ["kubesim.fixture"]
