# Two commands matter: `make run` (try the bot in a terminal) and `make test` (everything CI runs).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export WATCHPOST_TEST_POSTGRES_URL ?= postgresql://postgres@127.0.0.1:5432/watchpost_test
# setuptools announces every editable install of a flat layout ("Please be careful with
# folders ... same name as your package"): this project's folder is the package, by design.
PIP_INSTALL := PYTHONWARNINGS="ignore:Editable installation" $(BIN)/pip install --quiet

.PHONY: run test lint typecheck pytest install install-test install-bench install-docs docs services bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Stamps: each install runs again only when pyproject.toml changed since it last ran.
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(PIP_INSTALL) -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(PIP_INSTALL) -e ".[test]"
	touch $@

$(VENV)/.installed-docs: pyproject.toml | $(BIN)/python
	$(PIP_INSTALL) -e ".[docs]"
	touch $@

install: $(VENV)/.installed-run
install-test: $(VENV)/.installed-test
install-docs: $(VENV)/.installed-docs

## Try Watchpost in the terminal: SQLite, no Slack credentials.
run: install
	$(BIN)/watchpost console

## Install what the tests need, start PostgreSQL, then lint, type-check, run every test and build the docs.
test: install-test services lint typecheck pytest docs

services:
	scripts/ensure-postgres.sh

install-bench: $(BIN)/python
	$(PIP_INSTALL) -e ".[test,bench]"

## The benchmarks (not part of `make test`): Knot DNS, PostgreSQL and aiodns, then one table
## (also written to docs/figures/bench.md, which the docs' Scale page includes).
bench: install-bench services
	scripts/ensure-knot.sh
	$(BIN)/python -m bench

lint:
	$(BIN)/ruff check bot tests bench scripts
	$(BIN)/ruff format --check bot tests bench scripts

typecheck:
	$(BIN)/mypy

## The fault-injection and hostile-input suites write their figures for the docs.
pytest:
	WATCHPOST_FIGURES_FILE=docs/figures/reliability.md $(BIN)/python -m pytest -q -p no:cacheprovider

## The documentation site: the generated pages from the code, then `mkdocs build --strict` into site/.
docs: install-docs
	$(BIN)/python scripts/docs_reference.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis site
