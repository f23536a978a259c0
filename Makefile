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

.PHONY: help setup setup-run run remote-plugin restore-outputs repro push test lint lint-workflows lock-check \
	bench-pipeline package serve bench-serve report gate clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(CURDIR)/.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	touch $@

setup: $(VENV)/.synced ## Create .venv exactly as uv.lock says (installs uv if missing)

# CI jobs that only run the pipeline and the report set UV_NO_DEV=1 in their environment, so the
# `setup` prerequisite of `repro`/`report` keeps this smaller install.
setup-run: | $(UV) ## Like setup, without the dev group (linters, test tools): what CI's report jobs need
	UV_NO_DEV=1 $(UV) sync --frozen

run: setup ## Run the whole pipeline (dvc repro) on the embedded data, then summarise
	dvc repro
	contrail summary

# `contrail remote-plugin` names the dependency group (remote-s3, remote-gs, remote-azure,
# remote-ssh) with the DVC plugin for the URL's scheme, or nothing for a local path. --group
# adds it to what `make setup` installs (dev too, unless UV_NO_DEV is set, as in CI), and the
# sync drops any other remote plugin. The URL is never echoed: it may carry credentials.
remote-plugin: setup ## Install the one DVC plugin DVC_REMOTE_URL's scheme needs (none when unset/local)
	@if [ -n "$${DVC_REMOTE_URL:-}" ]; then \
	  group=$$(contrail remote-plugin "$$DVC_REMOTE_URL") && \
	  if [ -n "$$group" ]; then $(UV) sync --frozen --group "$$group"; fi; \
	fi

# `--pull` fetches the outputs of each stage whose only change is missing data, and runs a
# stage whose outputs the remote lacks. (`--allow-missing` would skip such stages unpulled.)
repro: setup remote-plugin ## dvc repro; with DVC_REMOTE_URL set, pull unchanged stages' outputs instead of rerunning them
	@if [ -n "$${DVC_REMOTE_URL:-}" ]; then \
	  dvc remote add --local --force --default ci "$$DVC_REMOTE_URL" && \
	  dvc repro --pull; \
	else \
	  dvc repro; \
	fi

push: setup remote-plugin ## Push outputs and the run cache to the remote in DVC_REMOTE_URL (no-op when unset)
	@if [ -n "$${DVC_REMOTE_URL:-}" ]; then \
	  dvc remote add --local --force --default ci "$$DVC_REMOTE_URL" && \
	  dvc push --run-cache; \
	else \
	  echo "DVC_REMOTE_URL is not set: nothing to push"; \
	fi

# CI, before `make repro`: outputs whose dvc.lock entries are already in the local DVC cache
# (restored by actions/cache from main) are checked out, so `dvc repro` skips their stages.
# DVC's run-cache cannot do it here: it skips stages with `persist: true` outputs. What the
# cache lacks (dvc checkout then exits non-zero) is left to `dvc repro` to rebuild.
restore-outputs: setup ## Check out the outputs the local DVC cache already has (CI, before repro)
	@dvc checkout || echo "restore-outputs: some outputs are not in the local DVC cache; dvc repro rebuilds them"

report: setup ## Write reports/pr_report.md (Mermaid charts) and the label-free verdict reports/gate.json
	contrail report --base "$$BASE"
	contrail gate --base "$$BASE" --record reports/gate.json

# `contrail gate` exits 1 when the model is blocked and 2 when the gate cannot decide, but make
# turns any failing recipe into its own exit 2: CI calls `contrail gate` directly for the code.
gate: setup ## Fail with a one-line reason if the workspace's model may not replace $(BASE)'s
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
