# Every CI step and every workflow step is one of these targets (`make help` lists them).
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_VERSION := $(shell sed -n 's/^required-version = "==\(.*\)"$$/\1/p' pyproject.toml)
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

.PHONY: help setup ci-setup run drift-report remote-plugin restore-outputs repro push test test-workflows lint lint-workflows lock-check \
	bench-pipeline bench-threads bench-validation package serve bench-serve bench-image report gate clean update-imports monitor retrain bench-monitor

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(CURDIR)/.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	@echo "setup: installing the locked environment and compiling it to bytecode (about a minute the first time)"
	$(UV) sync --frozen
	touch $@

setup: $(VENV)/.synced ## Create .venv exactly as uv.lock says (installs uv if missing)

# The shared setup of every workflow job (.github/actions/setup). Jobs that neither lint nor test
# set UV_NO_DEV=1, so `setup` skips the dev group. Later steps run `contrail` directly: make puts
# .venv/bin on PATH for its own recipes only, so it goes to the job's PATH too.
ci-setup: setup ## CI: the locked environment (UV_NO_DEV=1: no dev group), .venv/bin on the job's GITHUB_PATH
	@echo "$(VENV)/bin" >> "$$GITHUB_PATH"

# reports/failed/ holds the problems of the last data that failed validation; cleared first,
# since DVC reruns nothing (and so cannot clear it) once the data is back to what dvc.lock has.
run: setup ## Run the whole pipeline (dvc repro) on the embedded data, render the drift HTML, summarise
	rm -rf reports/failed
	dvc repro
	contrail drift-report
	contrail summary

# Outside `dvc repro`, like `dvc plots show`: importing Evidently takes longer than the scores.
drift-report: setup ## Evidently's HTML drift report of the current features (reports/drift.html)
	contrail drift-report

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
	@rm -rf reports/failed
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

# ------------------------------------------------------------------------------------------------
# The retraining loop (monitor.yml). Production data brought with `dvc import-url` (a .dvc file
# under data/production/ or data/source/) is refreshed first, so the check and any retraining
# PR record exactly which data they used.
# ------------------------------------------------------------------------------------------------
update-imports: setup ## `dvc update` every import (.dvc file) under data/production/ and data/source/
	@imports=$$( { find data/production data/source -name '*.dvc' 2>/dev/null || true; } | sort); \
	if [ -n "$$imports" ]; then dvc update $$imports; else echo "update-imports: no DVC imports"; fi

monitor: update-imports ## `contrail monitor` on fresh production data: report, history row, decision
	contrail monitor

retrain: update-imports ## On the monitor's "retrain: yes": branch, move the window, dvc repro, commit (`contrail retrain prepare`)
	contrail retrain prepare

bench-monitor: setup ## Time `contrail monitor` on 1,000,000 production rows vs 1,000,000 reference rows; compare drift with Evidently
	python benchmarks/monitor.py

package: setup ## Put models/ into the BentoML store (labels, provenance) and build the Bento
	contrail package

# The port reaches `contrail serve` as an environment variable, never pasted into the shell.
serve: export PORT ?= 3000
serve: setup ## Serve the current model on http://127.0.0.1:PORT (default 3000; after `make run`)
	contrail serve --port "$$PORT"

test: setup ## Run the test suite
	pytest

# Each workflow executed for the events it handles: act in host mode against loopback stand-ins
# (README, "Verifying the workflows locally"). Needs npm, podman and docker-registry. RUNS=ci
# leaves out the runs marked full_set: CI's subset still executes every workflow.
test-workflows: setup ## Run the GitHub workflows for real under act, offline (RUNS=ci: CI's subset)
	pytest -m "workflows$(if $(filter ci,$(RUNS)), and not full_set)" tests/workflows

lint: setup lock-check ## ruff, mypy (strict), YAML/TOML and workflow checks via pre-commit, on all files
	pre-commit run --all-files --show-diff-on-failure

lint-workflows: setup ## Schema-check and security-audit the GitHub workflows
	check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	zizmor --offline .github/workflows

lock-check: | $(UV) ## Fail if uv.lock is out of date with pyproject.toml
	$(UV) lock --check

# Each overlay rendered as `kubectl apply` would get it, then checked offline against the pinned
# Kubernetes version's schemas, rejecting unknown fields. kubernetes-validate only warns about a
# kind it has no schema for (a typo in kind or apiVersion), so a WARN line fails too.
.PHONY: lint-k8s
lint-k8s: K8S_VERSION := 1.32.0
lint-k8s: setup ## Render deploy/ overlays (kubectl kustomize), validate them offline (kubernetes-validate --strict)
	@command -v kubectl >/dev/null || { echo "lint-k8s: kubectl is not on PATH" >&2; exit 1; }
	@for overlay in deploy/overlays/*/; do \
	  echo "$${overlay%/}: Kubernetes $(K8S_VERSION), strict"; \
	  out=$$(kubectl kustomize "$$overlay" | kubernetes-validate -k $(K8S_VERSION) --strict -) \
	    || { echo "$$out"; exit 1; }; \
	  echo "$$out"; \
	  if grep -q '^WARN' <<<"$$out"; then echo "lint-k8s: no schema for a resource above" >&2; exit 1; fi; \
	done

bench-pipeline: setup ## Time cold, no-op and hyperparameter-only `dvc repro` vs a bare fit
	python benchmarks/pipeline.py

# Each fit in its own process, the busy loop killed afterwards (about 3 minutes on 2 cores:
# scikit-learn's defaults beside the busy process take most of it).
bench-threads: setup ## Fit time idle and beside a busy process: contrail's threads vs 1 thread vs scikit-learn's defaults
	python benchmarks/threads.py

bench-validation: setup ## Validate 3,000,000 rows where every row fails vs the same rows passing: time, peak RSS
	python benchmarks/validation.py

bench-serve: setup ## Service vs naive FastAPI app: latency, req/s, rows/s (loopback, ~2 min)
	python benchmarks/serve.py

# Builds with podman (`../shared/tools/container-engine.sh` where there is no Docker), never pushes
# (about 2 minutes). Fails if a check fails or if a module the service imports has no bytecode in
# the image: then `python benchmarks/image.py --write-imports` and rebuild.
bench-image: setup ## Build the service image (podman): size and layers, cold start to /readyz, checks, read-only root
	python benchmarks/image.py --runs 5

clean: ## Remove environments and caches (keeps data and models)
	rm -rf .venv .tools .pytest_cache .ruff_cache

# ------------------------------------------------------------------------------------------------
# Release and deploy (issue 9): every step of release.yml, deploy.yml and rollback.yml.
# Values reach the commands as environment variables, never pasted into the shell:
# `make deploy STAGE=staging IMAGE=ghcr.io/o/r/flight-delay@sha256:...`. The steps are
# `contrail release ...` (src/contrail/release/rollout.py); each one's --help lists the variables
# it reads and their defaults (SMOKE_PORT, ROLLOUT_TIMEOUT, SOAK_SECONDS, SOAK_INTERVAL,
# KIND_CLUSTER, CONTAINER_BACKEND). Each kubectl step acts on the current kubectl context
# (KUBECONFIG); the namespace is the overlay's own. Production goes canary -> deploy ->
# canary-delete (see deploy.yml).
# ------------------------------------------------------------------------------------------------
LOCAL_IMAGE ?= contrail/flight-delay:local
IMAGE_REF_FILE ?= image-ref.txt
# `bentoml containerize` runs from / : BentoML refuses a Dockerfile template outside its cwd.
# Here (no Docker daemon): make image CONTAINER_BACKEND=podman CONTAINERIZE_OPTS="--opt network=host"
CONTAINER_BACKEND ?= docker
CONTAINERIZE_OPTS ?=
export LOCAL_IMAGE IMAGE_REF_FILE CONTAINER_BACKEND
export STAGE IMAGE VERSION EXPECT_VERSION IMAGE_REPOSITORY IMAGE_TAG
export SMOKE_PORT ROLLOUT_TIMEOUT SOAK_SECONDS SOAK_INTERVAL KIND_CLUSTER

.PHONY: ci-cluster ci-no-cluster lock-unchanged image smoke-image push-image deploy deploy-kind smoke-k8s canary canary-delete rollback

# `dvc repro` on a commit whose dvc.lock is current changes nothing (the pipeline is
# deterministic); if it did, the image would hold a model the commit does not record. Against
# HEAD, not the index: DVC stages the dvc.lock it rewrites (core.autostage in .dvc/config).
lock-unchanged: ## Fail if dvc.lock differs from the commit's (after `make repro`: the release ships the recorded model)
	@git diff --quiet HEAD -- dvc.lock || { git diff --stat HEAD -- dvc.lock; \
	  echo "lock-unchanged: dvc repro changed dvc.lock: commit the reproduced pipeline first" >&2; exit 1; }

image: setup ## Build the service image (LOCAL_IMAGE, default contrail/flight-delay:local): `contrail package`, then `bentoml containerize` (CONTAINER_BACKEND)
	bento=$$(contrail package | tee /dev/stderr | awk '/^built Bento / { print $$3 }'); \
	[ -n "$$bento" ] || { echo "image: contrail package named no Bento" >&2; exit 1; }; \
	cd / && bentoml containerize "$$bento" --backend "$(CONTAINER_BACKEND)" $(CONTAINERIZE_OPTS) \
	  --image-tag "$$LOCAL_IMAGE"

smoke-image: setup ## Run LOCAL_IMAGE (CONTAINER_BACKEND) on 127.0.0.1:SMOKE_PORT, `contrail smoke` it, stop it (nothing is pushed)
	contrail release smoke-image

# The reference uses the digest the registry stored, as the push reports it, never
# `RepoDigests` (podman fills that in locally at tag time). A plain-http registry is the
# engine's configuration (CONTAINERS_REGISTRIES_CONF: `insecure = true`), not a flag here.
push-image: setup ## Push LOCAL_IMAGE (CONTAINER_BACKEND) as IMAGE_REPOSITORY:IMAGE_TAG (default: the commit); write its reference by digest to IMAGE_REF_FILE
	contrail release push-image --image "$$LOCAL_IMAGE" --repository "$${IMAGE_REPOSITORY:?set IMAGE_REPOSITORY}" \
	  --tag "$${IMAGE_TAG:-$$(git rev-parse --short=12 HEAD)}" --ref-file "$$IMAGE_REF_FILE" \
	  $${GITHUB_OUTPUT:+--github-output "$$GITHUB_OUTPUT"}

deploy: setup ## Apply STAGE's overlay with IMAGE (<repo>@sha256:...), wait for the rollout; on failure `rollout undo` and fail
	contrail release deploy

deploy-kind: setup ## Staging on the local kind cluster KIND_CLUSTER: pull IMAGE by digest (CONTAINER_BACKEND), `kind load` it, apply, roll out
	contrail release deploy-kind

smoke-k8s: setup ## `contrail smoke` STAGE's Service through a port-forward (EXPECT_VERSION: the model version it must serve)
	contrail release smoke-stage

canary: setup ## Production canary of IMAGE (one pod, track: canary), smoke it, soak SOAK_SECONDS; deleted on any failure
	contrail release canary

canary-delete: setup ## Delete the production canary (no-op when there is none); stable is untouched
	contrail release canary-delete

rollback: setup ## Print what STAGE rolls back to (its previous version, or VERSION); with KUBECONFIG set, deploy, smoke, assign
	contrail release rollback

# deploy.yml's choice of cluster. The secret (KUBECONFIG_CONTENT) never reaches the log or .git:
# it is written to a private file under RUNNER_TEMP, which KUBECONFIG names for the later steps.
ci-cluster: setup ## CI: mode=cluster (KUBECONFIG_CONTENT set: write it, export KUBECONFIG), kind (staging) or none, to GITHUB_OUTPUT
	@contrail release choose-cluster $${GITHUB_OUTPUT:+--github-output "$$GITHUB_OUTPUT"} $${GITHUB_ENV:+--github-env "$$GITHUB_ENV"}

ci-no-cluster: setup ## CI: fail loudly (log error + job summary): STAGE has no cluster to deploy to
	@contrail release no-cluster
