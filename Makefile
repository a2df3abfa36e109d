# Two commands do all set-up on a fresh machine (see README):
#   make demo   - create .venv, install testbed, deploy digits_cnn to this machine (--device local)
#   make test   - the same install plus system test deps (openssh-server), then the test suite
# Both are fast when everything is already installed (a stamp file tracks pyproject.toml).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.testbed-installed
MODEL  ?= digits_cnn
DEVICE ?= local
PYTEST_ARGS ?=

.PHONY: demo test test-arm64 bench install system-deps clean

demo: $(STAMP)
	$(BIN)/testbed deploy --device $(DEVICE) --model $(MODEL)

test: $(STAMP) system-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

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
	rm -rf $(VENV) build *.egg-info
