# Herald — the commands of SPEC.md. Everything runs from .venv, created by `make install`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PACKAGES := libs/common services/campaign services/processor services/template services/analytics cli
PYPROJECTS := $(addsuffix /pyproject.toml,$(PACKAGES))
TENANT ?= acme
ROLE ?= marketer

.PHONY: install dev demo test test-fast lint format token bench up clean

install: $(STAMP)

$(STAMP): $(PYPROJECTS) requirements-dev.txt
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(addprefix -e ,$(PACKAGES)) -r requirements-dev.txt
	@touch $(STAMP)

dev: install
	$(BIN)/herald dev

demo: install
	$(BIN)/herald demo

test: install
	$(BIN)/pytest -q

test-fast: install
	$(BIN)/pytest -q -m "not e2e"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy libs/common/src services/*/src cli/src

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

token: install
	@$(BIN)/herald token --tenant $(TENANT) --role $(ROLE)

bench: install
	$(BIN)/python -m bench.run

up:
	docker compose up --build

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
