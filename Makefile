# CRM back end. `make` (or `make help`) lists the targets; shell logic lives in scripts/.
.DEFAULT_GOAL := help
SHELL := /bin/bash

# uv from PATH, else the copy `make install` bootstraps into .tools/
UV ?= $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.tools/bin/uv)
export UV
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: help install run test lint fmt proto proto-check migrate bench

##@ Getting started

help: ## Show this help
	@echo "Usage: make <target>   (e.g. make test PYTEST_ARGS=\"-x -k leads\")"
	@awk 'BEGIN {FS = ":.*## "} /^##@/ {printf "\n%s\n", substr($$0, 5); next} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: ## Install everything: uv (into .tools/ if missing), `uv sync --frozen`, node tools if package.json
	@scripts/install.sh

run: install ## Start all services, workers and servers (embedded unless CRM_*_URL are set); Ctrl-C stops
	$(UV) run --frozen python scripts/dev.py

test: install ## Run the whole test suite (extra pytest args: PYTEST_ARGS="...")
	@scripts/test.sh $(PYTEST_ARGS)

##@ Development

lint: install ## ruff check, ruff format --check, mypy, buf lint
	@scripts/lint.sh

fmt: install ## Format and autofix with ruff
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .

proto: install ## Regenerate the Python stubs in libs/crm-proto from proto/
	scripts/proto.sh

proto-check: install ## Fail if the committed stubs differ from what proto/ generates
	scripts/proto.sh --check

migrate: install ## Create the databases and migrate every service (CRM_*_URL / <SVC>_DATABASE_URL or embedded)
	$(UV) run --frozen python scripts/dev.py migrate

bench: install ## Lead intake leads/s vs. a raw INSERT baseline, ~2 min (bench/README.md; BENCH_ARGS="...")
	$(UV) run --frozen python bench/leads_intake.py $(BENCH_ARGS)
