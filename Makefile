# lienthong — the two commands of the README are `make up` and `make test`.
# Everything else here is a convenience for developers.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
CLI    := $(VENV)/bin/lienthong
STAMP  := $(VENV)/.installed
PYTEST := $(PY) -m pytest -p no:cacheprovider

.PHONY: help venv up down status test lint unit integration e2e bench schemas lock clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

venv: $(STAMP) ## create .venv with the pinned dependencies

up: venv ## start Kafka, PostgreSQL and every service in the background
	$(CLI) up

down: ## stop every service, Kafka and PostgreSQL
	@if [ -x $(CLI) ]; then $(CLI) down; fi

status: venv ## show what runs and where
	$(CLI) status

test: lint ## lint, then the whole test suite (starts Kafka and PostgreSQL when needed)
	$(PY) -m shared_events.export --check
	$(PYTEST) tests

lint: venv ## ruff and mypy over the tree (configured in pyproject.toml)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

unit: venv ## unit tests only (no broker, no database)
	$(PYTEST) tests/unit

integration: venv ## integration tests (real Kafka and PostgreSQL)
	$(PYTEST) tests/integration

e2e: venv ## end-to-end tests (services as processes)
	$(PYTEST) tests/e2e

bench: venv ## measure intake, routing and uploads beside raw PostgreSQL and raw Kafka (not part of the tests)
	$(PY) -m bench

schemas: venv ## regenerate the JSON Schemas of the event contracts
	$(PY) -m shared_events.export

lock: venv ## re-pin the whole dependency tree after changing pyproject.toml
	$(PY) -m pip freeze --exclude-editable > requirements.lock

clean: down ## stop everything and delete local state (.state, .venv)
	rm -rf .state $(VENV)
