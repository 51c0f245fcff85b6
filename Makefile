# Herald — the commands of SPEC.md. Everything runs from .venv, created by `make install`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PACKAGES := libs/common libs/emulator services/campaign services/processor services/template services/analytics cli
PYPROJECTS := $(addsuffix /pyproject.toml,$(PACKAGES))
TENANT ?= acme
ROLE ?= marketer
# The dashboard (ui/): Angular, installed with npm from its lockfile.
UI := ui
UI_STAMP := $(UI)/node_modules/.installed
UI_PORT ?= 4200
export NG_CLI_ANALYTICS := false

.PHONY: install dev demo test test-tools test-fast test-ui ui ui-install lint format token bench images lock up up-emulator clean

install: $(STAMP)

$(STAMP): $(PYPROJECTS) requirements-dev.txt
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(addprefix -e ,$(PACKAGES)) -r requirements-dev.txt
	@touch $(STAMP)

# The stack and the development OIDC provider (ui/dev-oidc, on Node: hence the dashboard's packages).
dev: install ui-install
	$(BIN)/herald dev --ui-port $(UI_PORT)

demo: install
	$(BIN)/herald demo

# The suite on TEST_WORKERS processes (pytest-xdist): every test has its own resource prefix and each worker its own
# in-process emulator. tests/conftest.py groups the tests: a file on a shared stack, or with `timing` tests, stays on
# one worker (its stack starts once, its timing tests run one at a time), the longest first. Six workers on two
# cores: the long fault tests mostly wait on paced sends, and the other workers use the CPU they leave.
# Bytecode writing stays on for the suite: pytest keeps each test file's assertion-rewritten code in __pycache__ only
# where Python may write bytecode, and some machines turn that off (PYTHONDONTWRITEBYTECODE=1, as this project's
# development machines do). Without it every worker rewrites every test file again (about 5 s of CPU each); one
# collection first writes it for all of them (a collection error is reported by the run after it).
TEST_WORKERS ?= 6
test: install test-tools
	-env -u PYTHONDONTWRITEBYTECODE $(BIN)/pytest -q --collect-only > /dev/null
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder
	$(MAKE) test-ui

# Chromium for the browser tests: installed where this machine allows (root with apt-get), else the command is named.
test-tools:
	@scripts/test-tools.sh

# The dashboard's tests: unit and component tests (Vitest), the gateway's routing table (node --test), then a
# production build and the browser tests (headless Debian Chromium against a real stack on the emulator).
test-ui: install ui-install
	cd $(UI) && timeout 300 npm test
	cd $(UI) && timeout 60 npm run test:gateway
	cd $(UI) && timeout 300 npm run build
	cd $(UI) && timeout 1500 npm run e2e

ui-install: $(UI_STAMP)

$(UI_STAMP): $(UI)/package.json $(UI)/package-lock.json
	cd $(UI) && npm ci --no-audit --no-fund
	@touch $(UI_STAMP)

# The dashboard on the Angular dev server, proxying the APIs to the stack `make dev` runs (ui/proxy.conf.mjs).
ui: ui-install
	@echo "Herald dashboard: http://127.0.0.1:$(UI_PORT)/  (start the stack with 'make dev' first; sign in as a person it printed, or with a token from 'make token')"
	cd $(UI) && npx ng serve --proxy-config proxy.conf.mjs --host 127.0.0.1 --port $(UI_PORT)

test-fast: install
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/pytest -q -m "not e2e"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy libs/common/src libs/emulator/src services/*/src cli/src

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

token: install
	@$(BIN)/herald token --tenant $(TENANT) --role $(ROLE)

bench: install
	$(BIN)/python -m bench.run

# The six images of SPEC.md "Additions" (tag dev): the four services from deploy/docker/Dockerfile, the emulator and
# the dashboard. Where no image registry answers, stand-in base images are built from Debian packages first.
images:
	deploy/docker/images.sh

# The services' third-party packages, pinned with hashes for every platform, from the pyproject files.
lock: install
	$(BIN)/python deploy/docker/pyproject_deps.py libs/common/pyproject.toml $(addsuffix /pyproject.toml,$(addprefix services/,campaign template analytics processor)) \
	  | $(BIN)/uv pip compile - --quiet --generate-hashes --universal --python-version 3.11 \
	      --custom-compile-command "make lock" -o deploy/docker/requirements.lock

# The stack on LocalStack (docker-compose.yml), or on Herald's emulator: `make up-emulator`.
up:
	docker compose up --build

up-emulator: images
	docker compose -f docker-compose.yml -f docker-compose.emulator.yml up

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# Build and push the images, then deploy the CloudFormation stack (settings: deploy/deploy.sh, README "Deploy on AWS").
.PHONY: deploy
deploy:
	deploy/deploy.sh
