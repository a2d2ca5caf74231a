# kubectl-prefect-rollback — `make demo` and `make test` are the whole quickstart.
VERSION := $(shell sed -n 's/^version: *"\{0,1\}\([^"]*\)"\{0,1\}$$/\1/p' plugin.yaml)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: help venv install tools fixtures test test-unit test-e2e test-faults lint format demo bench clean golden \
	binary rootfs dist krew-manifest bench-startup

help:
	@echo "make demo     a real rollback on the embedded kubesim cluster"
	@echo "make test     every test layer (installs what it needs)"
	@echo "make test-faults  every cell of the fault and interruption matrices, printed as tables"
	@echo "make install  the plugin into $(VENV) (kubectl-prefect_rollback on its bin/)"
	@echo "make lint     ruff"
	@echo "make binary   dist/kubectl-prefect_rollback/ (PyInstaller onedir, built in Debian 11)"
	@echo "make dist     release archives, checksums.txt, krew manifest (and .prov when signing) in dist/"

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
	$(PY) scripts/build-fixtures.py --real-prefect

# the packaging and shipped-artifact e2e tests run the files `make dist` wrote (tests/shipped.py)
# two pytest-xdist workers, each with its own kubesim (e2e tests mostly wait on the cluster); an idle
# worker steals queued tests, so the long e2e tail does not end up on one worker
TEST_JOBS ?= 2
test: venv tools fixtures dist
	$(PY) -m pytest -n $(TEST_JOBS) --dist worksteal $(PYTEST_ARGS)

# pure and fake-binary tests: no kubesim, no real cluster tools, no `make dist` (README "Development").
# Bytecode is cached even where PYTHONDONTWRITEBYTECODE is set (under .venv, never beside the sources):
# without it every pytest worker re-rewrites every test module and every plugin process compiles the
# whole package again, a third of the run.
# Three workers: these tests wait on held calls and hung children as much as they compute, so on two
# cores a third worker fills the waits (measured: 3 beat 2 on wall at the same CPU-seconds; 4 did not).
PYCACHE := $(abspath $(VENV))/pycache
UNIT_JOBS ?= 3
# The tests' tmp_path trees (a small world of files each, ~6000 a run) on tmpfs where there is one:
# on disk, writing them and removing an old run's tree at the end took seconds of the run's wall time.
# pytest empties this folder when the next run starts.
UNIT_TMP ?= $(if $(wildcard /dev/shm/.),/dev/shm/kubectl-prefect-rollback-unit$(subst /,-,$(abspath .)))
test-unit: venv
	env -u PYTHONDONTWRITEBYTECODE PYTHONPYCACHEPREFIX=$(PYCACHE) $(PY) -m pytest -n $(UNIT_JOBS) --dist worksteal \
		tests kubesim/tests --ignore=tests/e2e -m "not kubesim and not release" \
		$(if $(UNIT_TMP),--basetemp=$(UNIT_TMP)) $(PYTEST_ARGS)

test-e2e: venv tools fixtures dist
	$(PY) -m pytest tests/e2e $(PYTEST_ARGS)

# `make test` runs a sample of these matrices (tests/e2e/faults); this runs every cell.
FAULT_JOBS ?= 2
test-faults: venv tools fixtures
	PREFECT_FAULTS=all $(PY) -m pytest tests/e2e/test_signals.py $(PYTEST_ARGS)
	$(PY) -m tests.e2e.faults.matrix --jobs $(FAULT_JOBS)

# every golden file (tests/data/golden/, and the fakes' canned listings) rewritten from what the code
# prints now; only changed files are written, so a second run leaves `git status` clean. Review the diff.
golden: venv
	$(PY) -m tests.fakes.listings
	PREFECT_ROLLBACK_UPDATE_GOLDEN=1 $(PY) -m pytest -q tests/test_golden_cli.py tests/test_listing.py \
		tests/test_status.py $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check kubectl_prefect_rollback kubesim testbed tests scripts packaging/*.py
	$(VENV)/bin/ruff format --check kubectl_prefect_rollback

format: venv
	$(VENV)/bin/ruff format kubectl_prefect_rollback
	$(VENV)/bin/ruff check --fix kubectl_prefect_rollback

demo: venv tools fixtures
	$(PY) scripts/demo.py

bench: venv
	$(PY) scripts/bench_plan.py

# -- packaging: PyInstaller build, release archives, krew manifest -----------------------------------
RELEASE_URL ?= https://github.com/prefect-rollback/kubectl-prefect-rollback/releases/download/v$(VERSION)
BINARY := dist/kubectl-prefect_rollback/kubectl-prefect_rollback
PACKAGE_SOURCES := $(wildcard kubectl_prefect_rollback/*.py kubectl_prefect_rollback/*/*.py) \
	packaging/pyinstaller.spec packaging/entry.py

ROOTFS_RECIPE := scripts/build-rootfs.sh requirements-test.txt

# Built inside Debian 11 (glibc 2.31) so the binary runs on glibc >= 2.31 (packaging/build-in-rootfs.sh).
$(BINARY): $(VENV)/.stamp $(PACKAGE_SOURCES) packaging/build-in-rootfs.sh $(ROOTFS_RECIPE)
	sh packaging/build-in-rootfs.sh
	@touch $@

binary: $(BINARY)

# the Debian 11 root filesystems (cached in .tools/rootfs/): `run` for the tests, `build` for the binary
rootfs:
	sh scripts/build-rootfs.sh run >/dev/null
	sh scripts/build-rootfs.sh build >/dev/null

# dist/.stamp: the archives, checksums.txt and dist/prefect-rollback.yaml (the krew manifest for this
# build) are up to date. With PREFECT_ROLLBACK_SIGN_KEY set, every `make dist` signs afresh.
DIST_STAMP := dist/.stamp
DIST_INPUTS := $(BINARY) plugin.yaml LICENSE README.md scripts/install-binary.sh plugin.complete \
	kubectl_complete-prefect_rollback packaging/make_dist.py scripts/krew-manifest.py
ifneq ($(PREFECT_ROLLBACK_SIGN_KEY),)
.PHONY: $(DIST_STAMP)
endif

$(DIST_STAMP): $(DIST_INPUTS)
	$(PY) packaging/make_dist.py --version $(VERSION) --dist dist
	$(PY) scripts/krew-manifest.py --version $(VERSION) --dist dist --base-url $(RELEASE_URL) \
		--output dist/prefect-rollback.yaml
	@touch $@

dist: $(DIST_STAMP)

# the committed manifest, for a release: its sha256 must be the published archive's
krew-manifest: dist
	$(PY) scripts/krew-manifest.py --version $(VERSION) --dist dist --base-url $(RELEASE_URL) \
		--output plugins/prefect-rollback.yaml

bench-startup: binary
	$(PY) scripts/bench_startup.py dist/kubectl-prefect_rollback --max-version-ratio 1.0 --max-help-ratio 1.5

clean:
	rm -rf build dist testbed/build .pytest_cache
