# `make test` and `make demo` set everything up from a fresh clone: virtualenv,
# dependencies (again only when pyproject.toml changed), local PostgreSQL and Kafka.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The quick fault profile is part of the suite (docs/reliability.md); `long` is not.
PYTEST_ARGS ?= --faults-profile quick

.PHONY: test demo install services-up services-down smoke lint

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

install: $(STAMP)

services-up: $(STAMP)
	$(BIN)/payments services up

services-down:
	$(BIN)/payments services down

# pytest's exit 5 (no tests collected) fails too, and says so.
test: services-up
	@$(BIN)/pytest $(PYTEST_ARGS) || { rc=$$?; \
		if [ $$rc -eq 5 ]; then echo "pytest collected no tests: that is a failure" >&2; fi; \
		exit $$rc; }

# The demo starts the local services itself when none are configured, and stops
# again what it started.
demo: $(STAMP)
	$(BIN)/payments demo

smoke: services-up
	$(BIN)/payments services smoke

# Style and the layer rules of pyproject.toml ([tool.importlinter]).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
