# kubectl-prefect-rollback — `make demo` and `make test` are the whole quickstart.
VERSION := $(shell sed -n 's/^version: *"\{0,1\}\([^"]*\)"\{0,1\}$$/\1/p' plugin.yaml)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: help venv install tools fixtures test test-unit test-e2e lint format demo bench clean

help:
	@echo "make demo     a real rollback on the embedded kubesim cluster"
	@echo "make test     every test layer (installs what it needs)"
	@echo "make install  the plugin into $(VENV) (kubectl-prefect_rollback on its bin/)"
	@echo "make lint     ruff"

$(VENV)/.stamp: setup.cfg pyproject.toml requirements-test.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-test.txt
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

venv: $(VENV)/.stamp

install: venv
	@echo "installed: $(VENV)/bin/kubectl-prefect_rollback $(VERSION)"

tools:
	sh scripts/install-test-tools.sh

fixtures: venv
	$(PY) scripts/build-fixtures.py

test: venv tools fixtures
	$(PY) -m pytest $(PYTEST_ARGS)

test-unit: venv
	$(PY) -m pytest tests --ignore=tests/e2e --ignore=tests/kubesim $(PYTEST_ARGS)

test-e2e: venv tools fixtures
	$(PY) -m pytest tests/e2e $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check kubectl_prefect_rollback tests scripts
	$(VENV)/bin/ruff format --check kubectl_prefect_rollback

format: venv
	$(VENV)/bin/ruff format kubectl_prefect_rollback
	$(VENV)/bin/ruff check --fix kubectl_prefect_rollback

demo: venv tools fixtures
	$(PY) scripts/demo.py

bench: venv
	$(PY) scripts/bench_plan.py

clean:
	rm -rf build dist tests/fixtures/build .pytest_cache
