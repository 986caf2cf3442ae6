# Two set-up commands (see README): `make quickstart` and `make test`. Both create the pinned
# environment in .venv on first use (torch is pinned to the CPU wheel 2.13.0 in pyproject.toml).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: quickstart test env gpu-wheels

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev,ray]'
	touch $@

env: $(VENV)/.installed
	@# headless Chromium renders `factory report` pages in tests (Debian package; installed only as root, once)
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; fi
	@# libseccomp's syscall table checks the sandbox's hand-built seccomp filter in tests (Debian libseccomp2)
	@if ! ldconfig -p 2>/dev/null | grep -q libseccomp.so.2 && [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libseccomp2 >/dev/null; fi

# A second run is a no-op (every stage says it is up to date); delete runs/quickstart to start afresh.
quickstart: $(VENV)/.installed
	HF_HUB_OFFLINE=1 $(BIN)/factory run quickstart --out runs/quickstart

# The suite reads only files inside the repository (tests/test_self_contained.py checks it); `.ci/run`
# runs this target in a fresh clone with nothing beside it. Extra pytest options: make test PYTEST_ARGS='-x -k ingest'
PYTEST_ARGS ?=
test: env
	HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q $(PYTEST_ARGS)

# The wheels a CUDA image lacks, for bench/gpu_check.sh on a machine without a package index
# (into the ignored .whl/; at most 64 MiB; bench/gpu_wheels.py --plan shows what and why).
gpu-wheels: $(VENV)/.installed
	$(BIN)/python bench/gpu_wheels.py --dest .whl
