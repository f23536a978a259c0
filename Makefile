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

.PHONY: help setup ci-setup run remote-plugin restore-outputs repro push test test-workflows lint lint-workflows lock-check \
	bench-pipeline package serve bench-serve report gate clean update-imports monitor retrain bench-monitor

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(CURDIR)/.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	touch $@

setup: $(VENV)/.synced ## Create .venv exactly as uv.lock says (installs uv if missing)

# The shared setup of every workflow job (.github/actions/setup). Jobs that neither lint nor test
# set UV_NO_DEV=1, so `setup` skips the dev group. Later steps run `contrail` directly: make puts
# .venv/bin on PATH for its own recipes only, so it goes to the job's PATH too.
ci-setup: setup ## CI: the locked environment (UV_NO_DEV=1: no dev group), .venv/bin on the job's GITHUB_PATH
	@echo "$(VENV)/bin" >> "$$GITHUB_PATH"

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

serve: setup ## Serve the current model on http://127.0.0.1:3000 (after `make run`)
	contrail serve

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

bench-serve: setup ## Service vs naive FastAPI app: latency, req/s, rows/s (loopback, ~2 min)
	python benchmarks/serve.py

clean: ## Remove environments and caches (keeps data and models)
	rm -rf .venv .tools .pytest_cache .ruff_cache

# ------------------------------------------------------------------------------------------------
# Release and deploy (issue 9): every step of release.yml, deploy.yml and rollback.yml.
# Values reach the recipes as environment variables (`$$STAGE`, never `$(STAGE)` pasted into the
# shell): `make deploy STAGE=staging IMAGE=ghcr.io/o/r/flight-delay@sha256:...`.
# Each kubectl target acts on the current kubectl context (KUBECONFIG); the namespace is the
# overlay's own. Production goes canary -> deploy -> canary-delete (see deploy.yml).
# ------------------------------------------------------------------------------------------------
LOCAL_IMAGE ?= contrail/flight-delay:local
IMAGE_REF_FILE ?= image-ref.txt
# `bentoml containerize` runs from / : BentoML refuses a Dockerfile template outside its cwd.
# Here (no Docker daemon): make image CONTAINER_BACKEND=podman CONTAINERIZE_OPTS="--opt network=host"
CONTAINER_BACKEND ?= docker
CONTAINERIZE_OPTS ?=
SMOKE_PORT ?= 3300
ROLLOUT_TIMEOUT ?= 300s
SOAK_SECONDS ?= 300
SOAK_INTERVAL ?= 30
KIND_CLUSTER ?= contrail
export LOCAL_IMAGE IMAGE_REF_FILE SMOKE_PORT ROLLOUT_TIMEOUT SOAK_SECONDS SOAK_INTERVAL KIND_CLUSTER
export STAGE IMAGE VERSION EXPECT_VERSION IMAGE_REPOSITORY IMAGE_TAG

# Shell helpers shared by the recipes below.
define K8S_HELPERS
need() { for v in "$$@"; do [ -n "$${!v:-}" ] || { echo "$@: set $$v" >&2; exit 2; }; done; }; \
namespace() { awk '$$1 == "namespace:" { print $$2; exit }' "deploy/overlays/$$1/kustomization.yaml"; }; \
forward() { out=$$(mktemp); kubectl -n "$$1" port-forward "$$2" "$$SMOKE_PORT:3000" >"$$out" 2>&1 & pf=$$!; \
  for _ in $$(seq 100); do grep -q '^Forwarding from' "$$out" && return; kill -0 $$pf 2>/dev/null || break; sleep 0.3; done; \
  cat "$$out" >&2; echo "$@: no port-forward to $$2 on 127.0.0.1:$$SMOKE_PORT (busy port?)" >&2; exit 1; }
endef

.PHONY: ci-cluster ci-no-cluster lock-unchanged image smoke-image push-image deploy deploy-kind smoke-k8s canary canary-delete rollback

# `dvc repro` on a commit whose dvc.lock is current changes nothing (the pipeline is
# deterministic); if it did, the image would hold a model the commit does not record.
lock-unchanged: ## Fail if dvc.lock differs from the commit's (after `make repro`: the release ships the recorded model)
	@git diff --quiet -- dvc.lock || { git diff --stat -- dvc.lock; \
	  echo "lock-unchanged: dvc repro changed dvc.lock: commit the reproduced pipeline first" >&2; exit 1; }

image: setup ## Build the service image (LOCAL_IMAGE, default contrail/flight-delay:local): `contrail package`, then `bentoml containerize` (CONTAINER_BACKEND)
	bento=$$(contrail package | tee /dev/stderr | awk '/^built Bento / { print $$3 }'); \
	[ -n "$$bento" ] || { echo "image: contrail package named no Bento" >&2; exit 1; }; \
	cd / && bentoml containerize "$$bento" --backend "$(CONTAINER_BACKEND)" $(CONTAINERIZE_OPTS) \
	  --image-tag "$$LOCAL_IMAGE"

# Host networking, the port through the environment (the image's entrypoint turns PORT into
# BENTOML_PORT): podman here has host networking only and ignores --publish; docker on a Linux
# runner runs it the same way. BENTOML_HOST keeps the service on loopback.
smoke-image: setup ## Run LOCAL_IMAGE (CONTAINER_BACKEND) on 127.0.0.1:SMOKE_PORT, `contrail smoke` it, stop it (nothing is pushed)
	name=contrail-smoke-$$$$; engine="$(CONTAINER_BACKEND)"; \
	"$$engine" run --detach --rm --name "$$name" --network host \
	  -e PORT="$$SMOKE_PORT" -e BENTOML_HOST=127.0.0.1 "$$LOCAL_IMAGE" >/dev/null; \
	trap 'rc=$$?; [ $$rc -eq 0 ] || "$$engine" logs "$$name" 2>&1 | tail -n 40 >&2; "$$engine" stop "$$name" >/dev/null' EXIT; \
	contrail smoke --url "http://127.0.0.1:$$SMOKE_PORT" --ready-timeout 180

# The reference uses the digest the registry stored, as the push reports it, never
# `RepoDigests` (podman fills that in locally at tag time). A plain-http registry is the
# engine's configuration (CONTAINERS_REGISTRIES_CONF: `insecure = true`), not a flag here.
push-image: setup ## Push LOCAL_IMAGE (CONTAINER_BACKEND) as IMAGE_REPOSITORY:IMAGE_TAG (default: the commit); write its reference by digest to IMAGE_REF_FILE
	$(K8S_HELPERS); need IMAGE_REPOSITORY; \
	contrail release push-image --backend "$(CONTAINER_BACKEND)" --image "$$LOCAL_IMAGE" \
	  --repository "$$IMAGE_REPOSITORY" --tag "$${IMAGE_TAG:-$$(git rev-parse --short=12 HEAD)}" \
	  --ref-file "$$IMAGE_REF_FILE" $${GITHUB_OUTPUT:+--github-output "$$GITHUB_OUTPUT"}

deploy: ## Apply STAGE's overlay with IMAGE (<repo>@sha256:...), wait for the rollout; on failure `rollout undo` and fail
	$(K8S_HELPERS); need STAGE IMAGE; ns=$$(namespace "$$STAGE"); \
	deploy/render.sh "$$STAGE" "$${IMAGE#*@}" "$${IMAGE%@*}" | kubectl apply -f -; \
	if ! kubectl -n "$$ns" rollout status deployment/flight-delay --timeout="$$ROLLOUT_TIMEOUT"; then \
	  echo "deploy: the rollout of $$IMAGE to $$STAGE failed: undoing it" >&2; \
	  kubectl -n "$$ns" rollout undo deployment/flight-delay || true; exit 1; \
	fi

# kind has no credentials for the registry: the image is pulled here BY DIGEST (the engine checks
# the content against it), loaded into the cluster under a local tag, and the rendered overlay
# points at that tag. Everything else is the staging overlay as rendered for a real cluster.
# `kind load docker-image` always calls docker: the engine saves an archive for `kind load
# image-archive` instead. The tag is fully qualified (localhost/), so that podman's archive
# and docker's both name the image as the pod spec does.
deploy-kind: ## Staging on the local kind cluster KIND_CLUSTER: pull IMAGE by digest (CONTAINER_BACKEND), `kind load` it, apply, roll out
	$(K8S_HELPERS); need IMAGE; ns=$$(namespace staging); engine="$(CONTAINER_BACKEND)"; \
	local=localhost/contrail/flight-delay:kind-$${IMAGE##*sha256:}; local=$${local:0:60}; \
	archive=$$(mktemp -d)/image.tar; trap 'rm -rf "$${archive%/*}"' EXIT; \
	"$$engine" pull "$$IMAGE"; "$$engine" tag "$$IMAGE" "$$local"; \
	"$$engine" save -o "$$archive" "$$local"; \
	kind load image-archive "$$archive" --name "$$KIND_CLUSTER"; \
	kubectl create namespace "$$ns" --dry-run=client -o yaml | kubectl apply -f -; \
	deploy/render.sh staging "$${IMAGE#*@}" "$${IMAGE%@*}" | sed "s|image: $$IMAGE\$$|image: $$local|" | kubectl apply -f -; \
	kubectl -n "$$ns" rollout status deployment/flight-delay --timeout="$$ROLLOUT_TIMEOUT" \
	  || { kubectl -n "$$ns" describe pods >&2; exit 1; }

smoke-k8s: setup ## `contrail smoke` STAGE's Service through a port-forward (EXPECT_VERSION: the model version it must serve)
	$(K8S_HELPERS); need STAGE; trap 'kill $${pf:-} 2>/dev/null || true' EXIT; \
	forward "$$(namespace "$$STAGE")" service/flight-delay; \
	contrail smoke --url "http://127.0.0.1:$$SMOKE_PORT" --ready-timeout 60 $${EXPECT_VERSION:+--expect-version "$$EXPECT_VERSION"}

# The canary pod is port-forwarded directly (not through the Service, which also reaches stable
# pods): smoke-tested, then its /metrics scraped at the soak's start and every SOAK_INTERVAL s,
# each time judged by `contrail release canary-verdict` (5xx rate, p95, restarts; see
# src/contrail/release/deploy.py). Any failure deletes the canary; stable is never touched.
canary: setup ## Production canary of IMAGE (one pod, track: canary), smoke it, soak SOAK_SECONDS; deleted on any failure
	$(K8S_HELPERS); need IMAGE; ns=$$(namespace production); \
	trap 'rc=$$?; kill $${pf:-} 2>/dev/null || true; [ $$rc -eq 0 ] || $(MAKE) --no-print-directory canary-delete' EXIT; \
	deploy/render.sh canary "$${IMAGE#*@}" "$${IMAGE%@*}" | kubectl apply -f -; \
	kubectl -n "$$ns" rollout status deployment/flight-delay-canary --timeout="$$ROLLOUT_TIMEOUT"; \
	pod=$$(kubectl -n "$$ns" get pods -l app.kubernetes.io/name=flight-delay,track=canary \
	  --field-selector=status.phase=Running -o jsonpath='{.items[0].metadata.name}'); \
	forward "$$ns" "pod/$$pod"; \
	url=http://127.0.0.1:$$SMOKE_PORT; scrapes=$$(mktemp -d); \
	contrail smoke --url "$$url" --ready-timeout 60 $${EXPECT_VERSION:+--expect-version "$$EXPECT_VERSION"}; \
	curl -fsS "$$url/metrics" > "$$scrapes/before"; \
	for ((waited = 0; waited < SOAK_SECONDS; waited += SOAK_INTERVAL)); do \
	  sleep "$$SOAK_INTERVAL"; curl -fsS "$$url/metrics" > "$$scrapes/after"; \
	  contrail release canary-verdict --before "$$scrapes/before" --after "$$scrapes/after"; \
	done; \
	kubectl -n "$$ns" wait --for=condition=Ready "pod/$$pod" --timeout=10s

canary-delete: ## Delete the production canary (no-op when there is none); stable is untouched
	kubectl -n "$$(awk '$$1 == "namespace:" { print $$2; exit }' deploy/overlays/production/kustomization.yaml)" \
	  delete deployment/flight-delay-canary --ignore-not-found --wait=true

rollback: setup ## Print what STAGE rolls back to (its previous version, or VERSION); with KUBECONFIG set, deploy, smoke, assign
	$(K8S_HELPERS); need STAGE; out=$$(mktemp); \
	contrail release rollback-target --stage "$$STAGE" $${VERSION:+--version "$$VERSION"} --github-output "$$out"; \
	get() { sed -n "s/^$$1=//p" "$$out"; }; \
	export IMAGE=$$(get image) EXPECT_VERSION=$$(get model_version); target=$$(get version); \
	if [ -z "$${KUBECONFIG:-}" ]; then echo "rollback: KUBECONFIG is not set: nothing deployed"; exit 0; fi; \
	if [ "$$STAGE" = production ]; then $(MAKE) --no-print-directory canary; fi; \
	$(MAKE) --no-print-directory deploy smoke-k8s; \
	if [ "$$STAGE" = production ]; then $(MAKE) --no-print-directory canary-delete; fi; \
	contrail release assign --stage "$$STAGE" --version "$$target" --push

# deploy.yml's choice of cluster. The secret's content never reaches the log or .git: it is
# written to a private file under RUNNER_TEMP, which KUBECONFIG names for the later steps.
ci-cluster: ## CI: mode=cluster (KUBECONFIG_CONTENT set: write it, export KUBECONFIG), kind (staging) or none, to GITHUB_OUTPUT
	@if [ -n "$${KUBECONFIG_CONTENT:-}" ]; then \
	  file="$${RUNNER_TEMP:-/tmp}/kubeconfig"; (umask 077; printf '%s\n' "$$KUBECONFIG_CONTENT" > "$$file"); \
	  echo "KUBECONFIG=$$file" >> "$$GITHUB_ENV"; mode=cluster; \
	elif [ "$${STAGE:-}" = staging ]; then mode=kind; else mode=none; fi; \
	echo "mode=$$mode" >> "$$GITHUB_OUTPUT"; echo "deploy target for $${STAGE:-?}: $$mode"

ci-no-cluster: ## CI: fail loudly (log error + job summary): STAGE has no cluster to deploy to
	@msg="$${STAGE:-this stage} has no cluster: set the KUBECONFIG secret of its GitHub environment. Nothing was deployed and no stage tag was made."; \
	echo "::error title=No cluster for $${STAGE:-?}::$$msg"; \
	if [ -n "$${GITHUB_STEP_SUMMARY:-}" ]; then \
	  printf '### Deploy of %s to %s stopped\n\n%s\n' "$${VERSION:-?}" "$${STAGE:-?}" "$$msg" >> "$$GITHUB_STEP_SUMMARY"; fi; \
	exit 1
