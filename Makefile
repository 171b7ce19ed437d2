# The two commands a newcomer needs: `make run` and `make test`.
# Everything is installed into .venv by the repo itself.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: install run test test-unit lint format audit audit-if-reachable chaos chaos-quick bench bench-quick clean chromium fuzz fuzz-replay

# Ray starts its workers with PYTHONDONTWRITEBYTECODE=1: without a fresh .pyc every
# instance actor compiled the engine's modules again (~35 ms of CPU each). Checked on
# every install (a few ms when fresh); start_local does the same before Ray starts.
install: $(STAMP)
	@$(BIN)/python -m compileall -q pyflow_actors

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
	$(BIN)/python -m pytest -q --durations=25

test-unit: install
	$(BIN)/python -m pytest -q tests/unit

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy pyflow_actors service

# Known vulnerabilities in the installed dependencies (PyPI's advisory data): fails on one.
audit: install
	$(BIN)/pip-audit --skip-editable --progress-spinner off

# In CI (`make test`): red on a known vulnerability. Never red for the service: PyPI not
# answering, pip-audit failing without a report, or dependencies it could not look up
# (an index without their versions) are a warning, with how many were checked.
PYPI_PROBE := import urllib.request; urllib.request.urlopen('https://pypi.org/pypi/pip/json', timeout=5)
AUDIT_JSON := $(VENV)/pip-audit.json
AUDIT_GATE := import json, sys; deps = json.load(open(sys.argv[1]))['dependencies']; \
  found = ['%s %s: %s' % (d['name'], d['version'], ', '.join(v['id'] for v in d['vulns'])) for d in deps if d.get('vulns')]; \
  checked = sum('skip_reason' not in d for d in deps); \
  print(f'pip-audit: {checked} of {len(deps)} dependencies checked, {len(found)} with known vulnerabilities'); \
  checked < len(deps) and print(f'warning: {len(deps) - checked} could not be looked up (not failing for it)'); \
  [print('vulnerable:', line) for line in found]; sys.exit(1 if found else 0)
audit-if-reachable: install
	@rm -f $(AUDIT_JSON)
	@if ! $(BIN)/python -c "$(PYPI_PROBE)" 2>/dev/null; then \
	  echo "warning: PyPI did not answer within 5 s: dependency audit skipped (run make audit)"; \
	elif $(BIN)/pip-audit --skip-editable --progress-spinner off -f json -o $(AUDIT_JSON) 2>/dev/null \
	  || test -s $(AUDIT_JSON); then $(BIN)/python -c "$(AUDIT_GATE)" $(AUDIT_JSON); \
	else echo "warning: pip-audit failed without a report: dependency audit skipped (run make audit)"; fi

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
# CHAOS_KILLS_PER_MINUTE: the kill rate it aims at (several instance actors or shared hosts
# killed in one fault, costly faults less often; each kill -9 of a process is one kill);
# 0 is the quick run's pace, one process a fault.
# CHAOS_KILLS: faults go on past CHAOS_MINUTES (up to twice it) until that many kills.
CHAOS_MINUTES ?= 20
CHAOS_KILLS_PER_MINUTE ?= 25
CHAOS_KILLS ?= 0
chaos: install
	$(BIN)/python -m benchmarks.chaos --minutes $(CHAOS_MINUTES) --name chaos \
		--kills-per-minute $(CHAOS_KILLS_PER_MINUTE) --kills $(CHAOS_KILLS) $(CHAOS_ARGS)

chaos-quick: install
	$(BIN)/python -m benchmarks.chaos --minutes 2 --name chaos-quick $(CHAOS_ARGS)

# Fuzzing the gateway (schemathesis: every REST operation, stateful chains, GraphQL) at
# >= 10,000 cases; `make test` runs the same tests at about 1,000. Figures in
# benchmarks/results/fuzz.json; a failure replays with the same FUZZ_SEED.
FUZZ_EXAMPLES ?= 450
FUZZ_SCENARIOS ?= 200
FUZZ_SEED ?= 15
fuzz: install
	PYFLOW_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) PYFLOW_FUZZ_SCENARIOS=$(FUZZ_SCENARIOS) \
	  PYFLOW_FUZZ_REPORT=benchmarks/results/fuzz.json \
	  $(BIN)/python -m pytest -q -p no:cacheprovider --timeout 3600 --hypothesis-seed=$(FUZZ_SEED) \
	  tests/api/test_gateway_fuzz.py

# The replay engine's crash properties (tests/unit/test_replay_crash_properties.py) at
# REPLAY_EXAMPLES random workflows, each crashed at every journal write.
REPLAY_EXAMPLES ?= 2000
fuzz-replay: install
	PYFLOW_REPLAY_EXAMPLES=$(REPLAY_EXAMPLES) PYFLOW_REPLAY_REPORT=benchmarks/results/fuzz-replay.json \
	  $(BIN)/python -m pytest -q -p no:cacheprovider \
	  --timeout 3600 --hypothesis-seed=$(FUZZ_SEED) tests/unit/test_replay_crash_properties.py

chaos: fuzz fuzz-replay

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
