# Nautilus Streams: the everyday commands. `make` (or `make help`) lists them.
#
#   make up      install, then run everything on embedded services (Ctrl-C stops it)
#   make test    install, then validate docker-compose.yml and run the test suite
#
# Variables you can override: TORCH_SPEC, TORCH_INDEX_URL, PYTHON, VENV (see below), e.g.
#   make install TORCH_SPEC='torch==2.5.1'

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
# Pinned so pip never swaps in a multi-GB CUDA build; change it where another build is wanted.
TORCH_SPEC ?= torch==2.13.0
# Empty: pip's own index. Elsewhere on Linux, for a CPU-only build:
#   make install TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
TORCH_INDEX_URL ?=
TORCH := $(strip $(TORCH_SPEC) $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL)))

BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help install up test compose-check pglite toraniko lint bench clean distclean

help: ## list the targets
	@echo "usage: make TARGET [TORCH_SPEC=...] [TORCH_INDEX_URL=...]"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Holds the torch spec the venv was built with, rewritten only when it changes, so that
# overriding TORCH_SPEC or TORCH_INDEX_URL reinstalls while unchanged ones cost nothing.
$(VENV)/.torch-spec: FORCE | $(BIN)/python
	@echo '$(TORCH)' | cmp -s - $@ || echo '$(TORCH)' > $@

# torch first, pinned: installing the project first would resolve `torch>=...` to a CUDA build.
$(STAMP): pyproject.toml $(VENV)/.torch-spec
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)" \
		$(if $(TORCH_INDEX_URL),--index-url "$(TORCH_INDEX_URL)")
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(STAMP) ## create .venv and install the project with dev tools (quick when done)

up: install ## run everything: embedded broker + PostgreSQL, feed, workers, API
	$(BIN)/nautilus-streams up

# The tests that start no subprocesses run in TEST_PROCESSES pytest processes (pytest-xdist;
# each has its own embedded broker and PostgreSQL), then the slow ones (workers, `up`: they
# start processes of their own and mostly wait on them; one at a time they kept 2 cores at a
# load of about 1) in SLOW_TEST_PROCESSES.
TEST_PROCESSES ?= 2
SLOW_TEST_PROCESSES ?= 2

test: install compose-check pglite toraniko ## validate docker-compose.yml, then run the test suite
	@$(BIN)/python -m pytest -q -m "not slow" -n $(TEST_PROCESSES) --durations=10; rc=$$?; \
	if [ $$rc -eq 0 ]; then $(BIN)/python -m pytest -q -m slow -n $(SLOW_TEST_PROCESSES) \
		--durations=20; rc=$$?; fi; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests: failing" >&2; fi; \
	exit $$rc

# PGlite with TimescaleDB built in, run by Node.js: the real TimescaleDB of the tests of the
# TimescaleDB storage branch (tests/pglite). Without npm those tests are skipped, except in CI.
PGLITE := tests/pglite/node_modules/.package-lock.json
pglite: ## install the TimescaleDB the tests use (needs Node.js and npm)
	@if [ -f $(PGLITE) ] && [ $(PGLITE) -nt tests/pglite/package-lock.json ]; then :; \
	elif command -v npm >/dev/null 2>&1; then \
		npm ci --prefix tests/pglite --no-audit --no-fund --loglevel=error; \
	elif [ -n "$${CI:-}" ]; then \
		echo "make: npm not found; CI must run the TimescaleDB tests" >&2; exit 1; \
	else \
		echo "note: npm not found, the TimescaleDB tests will be skipped (apt-get install npm)"; \
	fi

# POSTGRES_PASSWORD and GRAFANA_ADMIN_PASSWORD are required by the compose file; throwaway
# values let it validate.
compose-check: ## validate docker-compose.yml with `docker-compose config -q`
	@if command -v docker-compose >/dev/null 2>&1; then \
		POSTGRES_PASSWORD="$${POSTGRES_PASSWORD:-validate-only}" \
		GRAFANA_ADMIN_PASSWORD="$${GRAFANA_ADMIN_PASSWORD:-validate-only}" \
			docker-compose -f docker-compose.yml config -q && echo "docker-compose.yml: valid"; \
	elif [ -n "$${CI:-}" ]; then \
		echo "make: docker-compose not found; CI must validate docker-compose.yml" >&2; exit 1; \
	else \
		echo "note: docker-compose not found, docker-compose.yml not validated" \
			"(apt-get install docker-compose)"; \
	fi

# toraniko 1.1.1 pins numpy 1.26 (ours is 2): the factor model's equality test runs it from
# a virtualenv of its own (tests/processors/factor_model; the test builds it too when absent).
# The stamp marks a finished install.
TORANIKO_VENV := .venv-toraniko
$(TORANIKO_VENV)/.installed:
	$(PYTHON) -m venv $(TORANIKO_VENV)
	$(TORANIKO_VENV)/bin/python -m pip install --quiet toraniko==1.1.1 numpy==1.26.4 polars==1.44.2
	@touch $@

toraniko: $(TORANIKO_VENV)/.installed ## build the virtualenv toraniko's equality test runs it from

lint: install ## ruff check
	$(BIN)/ruff check .

# Quix Streams pins its own confluent-kafka, so its baseline runs from a virtualenv of its own.
QUIX_VENV := .bench-quix
$(QUIX_VENV)/bin/python:
	$(PYTHON) -m venv $(QUIX_VENV)
	$(QUIX_VENV)/bin/python -m pip install --quiet quixstreams==3.28.1 orjson

# NautilusTrader pins its own dependencies, and 1.221.0 is its last release for Python 3.11:
# its backtest baseline runs from a virtualenv of its own. The stamp marks a finished install.
NAUTILUS_VENV := .bench-nautilus
$(NAUTILUS_VENV)/.installed:
	$(PYTHON) -m venv $(NAUTILUS_VENV)
	$(NAUTILUS_VENV)/bin/python -m pip install --quiet nautilus_trader==1.221.0
	@touch $@

bench: install $(QUIX_VENV)/bin/python $(NAUTILUS_VENV)/.installed ## run the benchmarks (bars, VPIN, backtest, margin, each with its baselines; API load)
	$(BIN)/python -m benchmarks.bars_throughput
	$(BIN)/python -m benchmarks.vpin_throughput --quix-python $(QUIX_VENV)/bin/python
	$(BIN)/python -m benchmarks.backtest_throughput --nautilus-python $(NAUTILUS_VENV)/bin/python
	$(BIN)/python -m benchmarks.margin_throughput
	$(BIN)/python -m benchmarks.api_load
	$(BIN)/python -m benchmarks.ml_inference

clean: ## remove caches and build outputs (keeps .venv and .nautilus data)
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis replay-out
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean ## also remove .venv
	rm -rf $(VENV) $(QUIX_VENV) $(NAUTILUS_VENV) $(TORANIKO_VENV) tests/pglite/node_modules

FORCE:
