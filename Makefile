# summarize-experiment: `make summarize` and `make test` create the environment themselves.
PYTHON ?= python3
# The oldest Python the README promises (Debian 12's own python3 is 3.11.2): `make test-oldest`
# runs the unit suite on it, and `make lock` resolves the lock with it.
OLDEST_PYTHON ?= /usr/bin/python3
# .venv/ belongs to the default python3 (what `make summarize` uses); a Python named with
# PYTHON=... gets its own .venv-<version>/, so testing another interpreter never rebuilds .venv/.
ifndef VENV
ifeq ($(origin PYTHON),file)
VENV := .venv
else
VENV := .venv-$(shell $(PYTHON) -c 'import platform; print(platform.python_version())' 2>/dev/null)
endif
endif
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Every package pinned, transitive ones included; `make lock` refreshes it.
LOCK := requirements.lock
LOCK_PYTHON ?= $(firstword $(wildcard $(OLDEST_PYTHON)) $(PYTHON))
PIP_QUIET := --quiet --disable-pip-version-check
EXPERIMENT ?= examples/demo
JOBS ?=
SUMMARIZE_ARGS ?=
UNIT_TESTS = $(PY) -m pytest -q -n 2 --ignore=tests/integration
# The live-SLURM suite runs in one process: it starts and stops a single-node cluster, so it
# must not be split across workers; it skips unless root and CI=true or SLURM_TESTBED=1.
INTEGRATION_TESTS = $(PY) -m pytest -q tests/integration

.PHONY: venv summarize summarize-when-done test test-unit test-integration test-oldest lint browser \
	lock bench demo clean

# A fresh environment holding exactly the lock (no resolver: --no-deps), checked by `pip check`.
$(STAMP): $(LOCK) requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed: set PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv --clear $(VENV)
	$(PY) -m pip install $(PIP_QUIET) --no-deps -r $(LOCK)
	$(PY) -m pip check
	touch $(STAMP)

venv: $(STAMP)

summarize: $(STAMP)
	$(PY) scripts/summarize.py $(EXPERIMENT) $(if $(JOBS),--jobs $(JOBS)) $(SUMMARIZE_ARGS)

summarize-when-done: $(STAMP)
	$(PY) scripts/summarize.py $(EXPERIMENT) --when-done $(SUMMARIZE_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# The figures' browser test renders summary.md in headless Chromium (Debian's package): in CI (root,
# CI=true) it is installed here when missing; elsewhere that test skips and says why.
browser:
	@if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && [ "$${CI:-}" = true ] && command -v apt-get >/dev/null 2>&1; then \
		echo "browser: installing chromium (apt-get) for the figures' browser test"; \
		{ apt-get update -q && apt-get install -y -q --no-install-recommends chromium; } >/dev/null \
			|| echo "browser: chromium could not be installed; the browser test will skip" >&2; \
	else \
		echo "browser: no chromium (not root in CI); the browser test will skip"; \
	fi

# Lint, then the unit and end-to-end tests in parallel, then the live-SLURM suite.
test: $(STAMP) lint browser
	$(UNIT_TESTS)
	$(INTEGRATION_TESTS)

test-unit: $(STAMP)
	$(UNIT_TESTS)

test-integration: $(STAMP)
	$(INTEGRATION_TESTS)

# The unit suite on OLDEST_PYTHON in its own .venv-<version>/; skipped (with the reason) when that
# Python is missing, older than 3.11, or the same release as PYTHON.
test-oldest:
	@if ! $(OLDEST_PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then \
		echo "test-oldest: skipped, $(OLDEST_PYTHON) is missing or older than 3.11"; \
	elif [ "$$($(OLDEST_PYTHON) -V 2>&1)" = "$$($(PYTHON) -V 2>&1)" ]; then \
		echo "test-oldest: skipped, $(OLDEST_PYTHON) is the same release as $(PYTHON)"; \
	elif ! $(OLDEST_PYTHON) -c 'import ensurepip' 2>/dev/null; then \
		echo "test-oldest: $(OLDEST_PYTHON) cannot make environments: apt-get install python3-venv" >&2; \
		exit 1; \
	else \
		echo "test-oldest: $$($(OLDEST_PYTHON) -V 2>&1) ($(OLDEST_PYTHON))"; \
		$(MAKE) --no-print-directory test-unit PYTHON=$(OLDEST_PYTHON); \
	fi

# Re-pin every package: requirements-dev.txt installed into a throw-away environment of the oldest
# Python (so no release needing a newer Python is picked), then `pip freeze` becomes the lock
# (with setuptools, which `pip install .` uses to build the package; pip itself is left out).
lock:
	rm -rf .venv-lock
	$(LOCK_PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install $(PIP_QUIET) -r requirements-dev.txt
	{ echo '# Every package of the environment, pinned: what `make` installs (pip install --no-deps -r).'; \
	  echo '# Made by `make lock` from requirements-dev.txt on the oldest supported Python; do not edit.'; \
	  .venv-lock/bin/python -m pip freeze --all --exclude pip; } > $(LOCK).new
	mv $(LOCK).new $(LOCK)
	rm -rf .venv-lock

# The sweep (cold, warm, one new log, figures; against the spec's method and the floor), then the
# cost of one bootstrap call of each kind on a 2,000-sample log.
bench: $(STAMP)
	$(PY) bench/run_bench.py
	$(PY) bench/compare_bootstrap.py 20

demo: $(STAMP)
	$(PY) examples/make_demo.py --out examples/demo

clean:
	rm -rf .venv .venv-* .pytest_cache .ruff_cache .bench
