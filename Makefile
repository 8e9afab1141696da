# Two commands matter: `make run` (try the bot in a terminal) and `make test` (everything CI runs).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export WATCHPOST_TEST_POSTGRES_URL ?= postgresql://postgres@127.0.0.1:5432/watchpost_test

.PHONY: run test lint typecheck pytest install install-test install-bench services bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

install-test: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test]"

## Try Watchpost in the terminal: SQLite, no Slack credentials.
run: install
	$(BIN)/watchpost console

## Install what the tests need, start PostgreSQL, then lint, type-check and run every test.
test: install-test services lint typecheck pytest

services:
	scripts/ensure-postgres.sh

install-bench: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test,bench]"

## The benchmarks (not part of `make test`): Knot DNS, PostgreSQL and aiodns, then one table.
bench: install-bench services
	scripts/ensure-knot.sh
	$(BIN)/python -m bench

lint:
	$(BIN)/ruff check bot tests bench
	$(BIN)/ruff format --check bot tests bench

typecheck:
	$(BIN)/mypy

pytest:
	$(BIN)/python -m pytest -q -p no:cacheprovider

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
