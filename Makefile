# summarize-experiment: `make summarize` and `make test` create the environment themselves.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXPERIMENT ?= examples/demo
JOBS ?=
SUMMARIZE_ARGS ?=

.PHONY: venv summarize summarize-when-done test lint bench demo clean

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed: set PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

summarize: $(STAMP)
	$(PY) scripts/summarize.py $(EXPERIMENT) $(if $(JOBS),--jobs $(JOBS)) $(SUMMARIZE_ARGS)

summarize-when-done: $(STAMP)
	$(PY) scripts/summarize.py $(EXPERIMENT) --when-done $(SUMMARIZE_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# Unit and end-to-end tests in parallel; then the live-SLURM suite in one process (it starts and
# stops a single-node cluster, so it must not be split across workers; it skips unless root and
# CI=true or SLURM_TESTBED=1).
test: $(STAMP) lint
	$(PY) -m pytest -q -n 2 --ignore=tests/integration
	$(PY) -m pytest -q tests/integration

bench: $(STAMP)
	$(PY) bench/run_bench.py

demo: $(STAMP)
	$(PY) examples/make_demo.py --out examples/demo

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .bench
