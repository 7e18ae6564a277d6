# Tocsin: `make run` serves the dashboard, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
export TOCSIN_ENV ?= development
# pytest-xdist processes for `make test` (0: one process, as plain pytest).
TEST_WORKERS ?= 2

.PHONY: run test lint bench worker clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime-installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

run: $(VENV)/.runtime-installed
	$(BIN)/flask --app wsgi db upgrade
	TOCSIN_SCHEDULER=$${TOCSIN_SCHEDULER:-on} $(BIN)/flask --app wsgi tocsin serve --port $(PORT)

test: $(VENV)/.dev-installed
	@bash scripts/ensure-chromium.sh
	@bash scripts/ensure-node-packages.sh
	@bash scripts/ensure-deploy-tools.sh
	TOCSIN_ENV=testing $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check webapp tests bench examples

worker: $(VENV)/.runtime-installed
	$(BIN)/flask --app wsgi tocsin worker

bench: $(VENV)/.dev-installed
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache
