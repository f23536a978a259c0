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
# Compile .venv to bytecode once at install: with PYTHONDONTWRITEBYTECODE set (as in some CI
# images) every `contrail` stage would otherwise recompile pandas and scikit-learn, ~3 s each.
export UV_COMPILE_BYTECODE := 1
# Base revision for `make report`/`make gate`; the PR workflow sets BASE from the event.
export BASE ?= main

.PHONY: help setup run repro push test lint lint-workflows lock-check bench-pipeline \
	package serve bench-serve report gate clean

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

repro: setup ## dvc repro; with DVC_REMOTE_URL set, pull unchanged stages' outputs instead of rerunning them
	@if [ -n "$${DVC_REMOTE_URL:-}" ]; then \
	  dvc remote add --local --force --default ci "$$DVC_REMOTE_URL" && \
	  dvc repro --pull --allow-missing; \
	else \
	  dvc repro; \
	fi

push: setup ## Push outputs and the run cache to the remote in DVC_REMOTE_URL (no-op when unset)
	@if [ -n "$${DVC_REMOTE_URL:-}" ]; then \
	  dvc remote add --local --force --default ci "$$DVC_REMOTE_URL" && \
	  dvc push --run-cache; \
	else \
	  echo "DVC_REMOTE_URL is not set: nothing to push"; \
	fi

report: setup ## Write reports/pr_report.md and its charts, comparing the workspace with $(BASE)
	contrail report --base "$$BASE"

gate: setup ## Exit 1 with a one-line reason if the workspace's model may not replace $(BASE)'s
	contrail gate --base "$$BASE"

package: setup ## Put models/ into the BentoML store (labels, provenance) and build the Bento
	contrail package

serve: setup ## Serve the current model on http://127.0.0.1:3000 (after `make run`)
	contrail serve

test: setup ## Run the test suite
	pytest

lint: setup lock-check ## ruff, mypy (strict), YAML/TOML and workflow checks via pre-commit, on all files
	pre-commit run --all-files --show-diff-on-failure

lint-workflows: setup ## Schema-check and security-audit the GitHub workflows
	check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	zizmor --offline .github/workflows

lock-check: | $(UV) ## Fail if uv.lock is out of date with pyproject.toml
	$(UV) lock --check

bench-pipeline: setup ## Time cold, no-op and hyperparameter-only `dvc repro` vs a bare fit
	python benchmarks/pipeline.py

bench-serve: setup ## Service vs naive FastAPI app: latency, req/s, rows/s (loopback, ~2 min)
	python benchmarks/serve.py

clean: ## Remove environments and caches (keeps data and models)
	rm -rf .venv .tools .pytest_cache .ruff_cache
