# `make demo` and `make test` do all the set-up on a fresh machine: a .venv with vidprov installed
# editable (re-done only when pyproject.toml changes), then they run.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.vidprov-installed
PYTEST_ARGS ?=

.PHONY: all setup test demo lint bench clean

all: test

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -e ".[dev,distributed]"
	@touch $(STAMP)

setup: $(STAMP)

test: setup
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

demo: setup
	$(BIN)/vidprov demo --out reports/demo

lint: setup
	$(BIN)/ruff check .

bench: setup
	$(BIN)/vidprov bench io

clean:
	rm -rf reports build dist *.egg-info .pytest_cache
