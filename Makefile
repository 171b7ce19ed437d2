# The two commands a newcomer needs: `make run` and `make test`.
# Everything is installed into .venv by the repo itself.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: install run test test-unit lint format audit audit-if-reachable chaos chaos-quick bench bench-quick clean chromium

install: $(STAMP)

# The `workers` extra names pyflow-workers-compat; the folder beside it is where pip finds it
# (not editable: its import hook is a .pth file that only a wheel install puts in place).
COMPAT := compat/workers
COMPAT_FILES := $(shell find $(COMPAT) -name '*.py' -o -name '*.pth' -o -name pyproject.toml)

$(STAMP): pyproject.toml $(COMPAT_FILES)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,workers]' ./$(COMPAT)
	touch $(STAMP)

run: install
	$(BIN)/pyflow dev --config examples/pyflow.toml

# The dashboard's browser tests (tests/browser) drive Debian's Chromium through Selenium:
# installed here when missing and possible (CI runs as root); without it they skip and say why.
chromium:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { apt-get install -y -qq chromium chromium-driver || \
	    { apt-get update -qq && apt-get install -y -qq chromium chromium-driver; } || \
	    echo "chromium could not be installed: tests/browser will skip"; }

# CI runs `make test`: the lint (ruff and mypy --strict) gates the tests, then the
# dependency audit when PyPI answers (an unreachable advisory service never fails CI).
test: lint audit-if-reachable chromium
	$(BIN)/python -m pytest -q

test-unit: install
	$(BIN)/python -m pytest -q tests/unit

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy pyflow_actors service

# Known vulnerabilities in the installed dependencies (PyPI's advisory data): fails on one.
audit: install
	$(BIN)/pip-audit --skip-editable --progress-spinner off

PYPI_PROBE := import urllib.request; urllib.request.urlopen('https://pypi.org/pypi/pip/json', timeout=5)
audit-if-reachable: install
	@if $(BIN)/python -c "$(PYPI_PROBE)" 2>/dev/null; then $(MAKE) --no-print-directory audit || \
	  echo "warning: make audit reports the dependencies above (not failing the tests for it)"; \
	else echo "warning: PyPI did not answer within 5 s: dependency audit skipped (run make audit)"; fi

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Benchmarks need the peer (dbos) and matplotlib: the `bench` extra, kept out of `dev`.
$(BENCH_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

bench-quick: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks --quick $(BENCH_ARGS)

# The chaos soak: a mixed workload through the gateway while every kind of fault hits a
# local multi-node Ray (kill -9 of instance actors, shared hosts, the supervisor, the
# gateway, worker nodes, the whole runtime; disk full; read-only storage; clock shifts);
# figures in benchmarks/results/chaos*.json and .md. Needs root for its small tmpfs.
# `make test` runs the quick one too (tests/faults/test_chaos_quick.py, a fixed seed).
CHAOS_MINUTES ?= 20
chaos: install
	$(BIN)/python -m benchmarks.chaos --minutes $(CHAOS_MINUTES) --name chaos $(CHAOS_ARGS)

chaos-quick: install
	$(BIN)/python -m benchmarks.chaos --minutes 2 --name chaos-quick $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
