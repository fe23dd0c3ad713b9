# The two commands a user runs: `make demo` and `make test`. Both set up what is missing first.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
KEEP ?=
# Three pytest workers, one test module each at a time, the slow modules first (tests/conftest.py
# orders them): much e2e and integration time is spent waiting on brokers, stacks and
# subprocesses, so three modules overlap well on two cores.
PYTEST_WORKERS ?= 3

.PHONY: setup demo test lint typecheck unit integration e2e bench contracts env-table clean

setup:
	@./scripts/bootstrap.sh

demo: setup  # KEEP=1 keeps the stack up after the demo, for the review app's link
	@KEEP=$(KEEP) $(BIN)/python scripts/demo.py

test: setup lint typecheck
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck:
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest -m unit $(PYTEST_ARGS)

integration: setup
	$(BIN)/pytest -m "integration or e2e" $(PYTEST_ARGS)

bench: setup
	$(BIN)/python -m bench.pipeline
	$(BIN)/python -m bench.platform
	$(BIN)/python -m bench.orchestration
	$(BIN)/python -m bench.storage
	$(BIN)/python -m bench.memory
	$(BIN)/python -m bench.planner
	$(BIN)/python -m bench.render
	$(BIN)/python -m bench.startup
	$(BIN)/python -m bench.versus

contracts: setup
	$(BIN)/python -m talkavocado_common.contracts

env-table: setup  # the README's table of environment variables, from the settings classes
	@$(BIN)/python -m tests.support.service_settings

clean:
	rm -rf $(VENV) .cache .mypy_cache .pytest_cache .ruff_cache storage demo-output
