# Two commands do all set-up on a fresh machine (see README):
#   make demo   - create .venv, install testbed, deploy digits_cnn to this machine (--device local)
#   make test   - the same install plus system test deps (openssh-server), then `make lint`, then the test suite
# Both are fast when everything is already installed (a stamp file tracks pyproject.toml).
#   make test-fast - the edit-test loop: unit tests that need no torch or TensorFlow, in their own light
#                    venv (.venv-fast: `pip install -e '.[test-fast]'`), in well under a minute
#   make lint      - ruff, mypy and lint-imports (import contracts; all configured in pyproject.toml);
#                    `make test` runs it before pytest

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.testbed-installed
MODEL  ?= digits_cnn
DEVICE ?= local
PYTEST_ARGS ?=
FAST_VENV ?= .venv-fast
FAST_STAMP := $(FAST_VENV)/.testbed-installed

.PHONY: demo test test-fast test-arm64 lint bench install system-deps clean

demo: $(STAMP)
	$(BIN)/testbed deploy --device $(DEVICE) --model $(MODEL)

test: $(STAMP) system-deps lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# ruff: the code and (a looser profile) the tests; mypy: the files and settings in pyproject.toml;
# lint-imports: the direction of imports (agent and zoo apart from the host, host layers, no cycles).
lint: $(STAMP)
	$(BIN)/ruff check host device_agent models bench tests
	$(BIN)/mypy
	$(BIN)/lint-imports

# No torch, no TensorFlow, no system packages: a framework import fails the test (tests/conftest.py).
test-fast: $(FAST_STAMP)
	TESTBED_TEST_FAST=1 $(FAST_VENV)/bin/python -m pytest -q -m "not framework" tests/unit $(PYTEST_ARGS)

$(FAST_STAMP): pyproject.toml
	test -x $(FAST_VENV)/bin/python || $(PYTHON) -m venv $(FAST_VENV)
	$(FAST_VENV)/bin/python -m pip install -q --upgrade pip
	$(FAST_VENV)/bin/python -m pip install -q -e '.[test-fast]'
	touch $(FAST_STAMP)

# Nightly only (not in `make test`): an emulated aarch64 board under qemu (first run builds and caches its image).
test-arm64: $(STAMP) system-deps
	bash scripts/install-system-deps.sh --arm64
	$(BIN)/python -m pytest -m slow tests/integration/test_lab_arm64.py $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/run.py

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

system-deps:
	bash scripts/install-system-deps.sh

clean:
	rm -rf $(VENV) $(FAST_VENV) build *.egg-info
