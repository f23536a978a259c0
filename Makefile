# Every CI step and every workflow step is one of these targets (`make help` lists them).
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_VERSION := 0.13.9
# A uv already on PATH is used as is; otherwise it is installed (pinned) into .tools/.
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)
VENV := $(CURDIR)/.venv
export PATH := $(VENV)/bin:$(PATH)
export UV_PYTHON_DOWNLOADS := never

.PHONY: help setup run test lint lock-check bench-pipeline clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(CURDIR)/.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	touch $@

setup: $(VENV)/.synced ## Create .venv exactly as uv.lock says (installs uv if missing)

run: setup ## Run the whole pipeline (dvc repro) on the embedded data, then summarise
	dvc repro
	contrail summary

test: setup ## Run the test suite
	pytest

lint: setup lock-check ## ruff, format and YAML/TOML checks via pre-commit, on all files
	pre-commit run --all-files --show-diff-on-failure

lock-check: | $(UV) ## Fail if uv.lock is out of date with pyproject.toml
	$(UV) lock --check

bench-pipeline: setup ## Time cold, no-op and hyperparameter-only `dvc repro` vs a bare fit
	python benchmarks/pipeline.py

clean: ## Remove environments and caches (keeps data and models)
	rm -rf .venv .tools .pytest_cache .ruff_cache
