# readingroom: every command of the README is a target here; CI calls `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
MEILI := .tools/meilisearch
PYTHON ?= python3
PYTEST_ARGS ?=
# pytest-xdist workers of `make test`: the database tests run twice (SQLite, PostgreSQL).
TEST_WORKERS ?= 2

.PHONY: help install system-deps venv meilisearch run serve demo migrate test lint format bench reliability clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

install: system-deps venv meilisearch ## Install whatever is missing (Debian packages, .venv, Meilisearch)

system-deps: ## Debian packages: tesseract (eng, spa), poppler-utils, chromium, python3-venv
	@scripts/install-system-deps.sh

venv: $(VENV)/.installed ## The virtualenv with readingroom and its dev tools

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

meilisearch: ## The pinned Meilisearch 1.21 binary in .tools/ (sha256 verified)
	@scripts/install-meilisearch.sh

migrate: install ## Create or upgrade the database schema
	$(BIN)/readingroom migrate

demo: install ## Generate and ingest the fictional demo production
	$(BIN)/readingroom demo

run: install ## Ingest the demo production and serve the site on http://127.0.0.1:8000
	$(BIN)/readingroom migrate
	$(BIN)/readingroom demo
	$(BIN)/readingroom serve

serve: install ## Serve the site without touching the demo
	$(BIN)/readingroom serve

test: install lint ## Lint, then run the whole test suite, each database test on SQLite and PostgreSQL
	@url=$$($(BIN)/python scripts/prepare_test_db.py); \
	if [ -n "$$url" ]; then export READINGROOM_TEST_POSTGRES_URL="$$url"; fi; \
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

lint: venv ## ruff and mypy (strict)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: venv ## Apply ruff's formatting and safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install ## Benchmarks against their baselines (ratios; bench/results/latest.json, .md)
	$(BIN)/python -m bench

reliability: install ## Hostile input, faults, attacks, load; figures into docs/reliability.md
	@mkdir -p bench/results; rm -f bench/results/hostile-*.json bench/results/reliability-junit.xml; \
	url=$$($(BIN)/python scripts/prepare_test_db.py); \
	if [ -n "$$url" ]; then export READINGROOM_TEST_POSTGRES_URL="$$url"; fi; \
	status=0; \
	READINGROOM_RELIABILITY_FIGURES=1 READINGROOM_RELIABILITY_FULL=1 \
	READINGROOM_HYPOTHESIS_PROFILE=explore $(BIN)/pytest -m reliability -o junit_logging=system-out \
		--junitxml=bench/results/reliability-junit.xml $(PYTEST_ARGS) || status=1; \
	$(BIN)/python -m bench load || status=1; \
	$(BIN)/python scripts/reliability_report.py || status=1; \
	exit $$status

clean: ## Remove the local data folder (var/) and caches, keep .venv and .tools
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
