# The verbs people type. Tool versions are pinned here, in one place.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

UV_VERSION    := 0.13.9
# MinIO ships source only; this pseudo-version is the master commit of 2026-02-12 (7aac2a2c5b7c).
MINIO_VERSION := v0.0.0-20260212201848-7aac2a2c5b7c
HELM_VERSION  := v3.22.0
HELM_DOCS_VERSION := v1.14.2
# Argo CD's CRDs (tests validate infra/gitops against them), from the Go module proxy. v3.5.7 is the newest v3
# release whose go.mod this project's Go 1.26 accepts (v3.6 needs Go 1.27).
ARGOCD_VERSION := v3.5.7
# The third-party policy suites make test runs on the rendered chart: kube-score from the Go module proxy,
# checkov from PyPI into an environment of its own (hack/checkov/requirements.txt pins it and its dependencies).
KUBE_SCORE_VERSION := v1.20.0

BIN := $(CURDIR)/bin
export PATH := $(BIN):$(PATH)
# The long builds of make e2e (Kubernetes, etcd, CoreDNS, the node's images) are kept here across clones, as
# Go and uv keep theirs: each under a key of what it is built from (a pinned version, its inputs' contents),
# so a fresh clone links bin/ to them instead of building again. Delete it to build everything anew.
BUILD_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/mlops-platform
# uv from PATH if present, else the one `make` bootstraps with pip.
UV ?= $(shell command -v uv 2>/dev/null || echo python3 -m uv)
RUN := $(UV) run --frozen

# The local state (MLOPS_HOME, default .mlops). Embedded runs keep Prefect's history in it, so the UI shows
# it (`mlops run` and the seed form set the same default themselves: flows/settings.py).
STATE := $(abspath $(or $(MLOPS_HOME),.mlops))
export PREFECT_HOME ?= $(STATE)/prefect
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 120
export DVC_NO_ANALYTICS ?= 1

BATCHES ?= 1 2 3
ROWS    ?= 20000
# make test's service layers run in this many pytest-xdist processes, a module per process at a time: a
# single process kept one core of two busy on average (the tests wait on servers and subprocesses).
TEST_WORKERS ?= 2

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

.PHONY: uv
uv:
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet "uv==$(UV_VERSION)"

# Bytecode compiled at install: imports then skip compiling (where PYTHONDONTWRITEBYTECODE is set, as
# here, every process start would compile mlflow, prefect and dvc from source, ~3 s each).
.venv/.synced: pyproject.toml uv.lock | uv
	@echo "installing the locked Python dependencies into .venv (uv sync: about 30 s the first time here)"
	@$(UV) sync --frozen --compile-bytecode --quiet
	@touch $@

.PHONY: venv
venv: .venv/.synced ## install the locked Python dependencies into .venv

.PHONY: tools
tools: $(if $(shell command -v minio 2>/dev/null),,$(BIN)/minio) $(if $(shell command -v helm 2>/dev/null),,$(BIN)/helm) $(BIN)/helm-docs ## build pinned binaries (MinIO, helm, helm-docs) into bin/

$(BIN)/minio:
	@mkdir -p $(BIN)
	@echo "building MinIO $(MINIO_VERSION) from source (a few minutes the first time)"
	GOBIN=$(BIN) GOFLAGS=-buildvcs=false go install github.com/minio/minio@$(MINIO_VERSION)

$(BIN)/helm:
	@mkdir -p $(BIN)
	GOBIN=$(BIN) GOFLAGS=-buildvcs=false go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

$(BIN)/helm-docs:
	@mkdir -p $(BIN)
	GOBIN=$(BIN) GOFLAGS=-buildvcs=false go install github.com/norwoodj/helm-docs/cmd/helm-docs@$(HELM_DOCS_VERSION)

.PHONY: policy-tools
policy-tools: $(BIN)/kube-score $(BIN)/checkov ## install the policy suites make test runs on the chart (kube-score, checkov) into bin/

$(BIN)/kube-score:
	@mkdir -p $(BIN)
	GOBIN=$(BIN) GOFLAGS=-buildvcs=false go install github.com/zegl/kube-score/cmd/kube-score@$(KUBE_SCORE_VERSION)

CHECKOV_ENV := $(BIN)/checkov-env
$(BIN)/checkov: hack/checkov/requirements.txt | uv
	@rm -rf $(CHECKOV_ENV) && $(UV) venv --quiet --python 3.11 $(CHECKOV_ENV)
	@echo "installing checkov into $(CHECKOV_ENV) (hashed pins of hack/checkov/requirements.txt)"
	@VIRTUAL_ENV=$(CHECKOV_ENV) $(UV) pip sync --quiet --require-hashes $<
	@ln -sf checkov-env/bin/checkov $@

.PHONY: checkov-lock
checkov-lock: | uv ## recompile hack/checkov/requirements.txt (with hashes) after changing hack/checkov/requirements.in
	$(UV) pip compile --quiet --python-version 3.11 --generate-hashes hack/checkov/requirements.in -o hack/checkov/requirements.txt

.PHONY: chart-docs
chart-docs: $(BIN)/helm-docs ## regenerate charts/mlops-platform/README.md from its template and values.yaml's comments
	$(BIN)/helm-docs --chart-search-root charts --template-files README.md.gotmpl

# The Application and AppProject CRDs of ARGOCD_VERSION, copied from its Go module (the stamp names the version,
# so a new pin fetches again; present, they are not fetched).
ARGOCD_CRDS := $(BIN)/argocd-crds
.PHONY: argocd-crds
argocd-crds: $(ARGOCD_CRDS)/.$(ARGOCD_VERSION) ## copy Argo CD's Application and AppProject CRDs into bin/argocd-crds/

$(ARGOCD_CRDS)/.$(ARGOCD_VERSION):
	@rm -rf $(ARGOCD_CRDS) && mkdir -p $(ARGOCD_CRDS)
	dir=$$(GOFLAGS=-mod=mod go mod download -json github.com/argoproj/argo-cd/v3@$(ARGOCD_VERSION) \
	  | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p') && test -n "$$dir" && \
	  for crd in application-crd appproject-crd; do \
	    install -m 0644 "$$dir/manifests/crds/$$crd.yaml" $(ARGOCD_CRDS)/; done
	@touch $@

.PHONY: run
run: venv ## run the pipeline on batches 1 2 3, embedded (no servers): BATCHES=..., ROWS=...
	$(RUN) mlops run --batches $(BATCHES) --demo-rows $(ROWS)

.PHONY: test
test: venv tools argocd-crds policy-tools ## all tests: unit, integration against real MinIO, MLflow and Prefect, faults and load
	$(RUN) pytest tests/unit tests/contract tests/images tests/charts
	@$(MAKE) --no-print-directory test-services

.PHONY: test-services
test-services: venv tools ## only the fault and integration layers of make test, in TEST_WORKERS (2) parallel processes
	$(RUN) pytest -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder tests/faults tests/integration --durations=20

.PHONY: test-fast
test-fast: venv ## the offline layer, no Go build and no service: unit tests and the stage Jobs' contract
	$(RUN) pytest tests/unit tests/contract

N ?= 3
.PHONY: test-repeat
test-repeat: venv tools argocd-crds ## the integration and fault steps N times in a row, each failure with its logs (N=3; FRESH=1: all of make test, each round in a fresh clone)
	hack/test-repeat.sh $(N)

.PHONY: faults
faults: venv tools ## only the fault and load tests (part of make test): services down, kills, full disk, 8 queued pipelines
	$(RUN) pytest tests/faults

.PHONY: docs
docs: venv ## regenerate docs/ pages made from the code (reference, dataset definition, benchmarks: BENCH_RESULTS=bench/results/latest.json publishes a run)
	$(RUN) python -m devenv.docs $(if $(BENCH_RESULTS),--bench-results $(BENCH_RESULTS))

.PHONY: lint
lint: venv ## ruff and mypy, as CI runs them
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy

.PHONY: format
format: venv ## apply ruff's fixes and formatting
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

.PHONY: bench
bench: venv tools ## benchmarks as ratios against same-run baselines -> bench/results/ (BENCH_5M=1 adds 5M rows)
	$(RUN) python -m bench

.PHONY: bench-gpu
bench-gpu: ## on a machine with an NVIDIA GPU: 2M rows with device=cuda and CPU hist, s/round and AUC difference
	$(UV) run --project images/flow-runner-gpu --frozen python -m bench.gpu

.PHONY: lock-gpu
lock-gpu: venv ## re-lock the GPU image's dependencies (images/flow-runner-gpu) at uv.lock's versions
	$(RUN) python hack/lock_gpu.py

SERVICES_ENV := $(STATE)/services/env.sh
WITH_SERVICES = set -a && source $(SERVICES_ENV) && set +a &&
BATCH ?= 1
CANDIDATES ?= 1

.PHONY: up
up: venv tools ## start local services: Prefect :4200, MLflow :5000, MinIO :9000, a process worker
	$(RUN) python -m devenv up
	@echo local > $(STATE)/target

.PHONY: down
down: ## stop exactly what `make up` started
	@if [ -d .venv ]; then $(RUN) python -m devenv down; fi

# Where deploy-flows registers: the platform brought up last (`make up`: local, `make deploy`: cluster).
TARGET ?= $(shell cat $(STATE)/target 2>/dev/null || echo local)
K8S_WORK_POOL ?= mlops-kubernetes

.PHONY: deploy-flows
deploy-flows: venv ## register prefect.yaml's deployments on the local services or the cluster (TARGET=)
ifeq ($(TARGET),cluster)
	$(MAKE) deploy-flows-cluster
else
	@test -f $(SERVICES_ENV) || { echo "no local services: run 'make up' first"; exit 1; }
	$(WITH_SERVICES) $(RUN) prefect --no-prompt deploy --all
endif

.PHONY: trigger
trigger: venv ## run the deployed pipeline on one batch and follow it: BATCH=N [CANDIDATES=K]
	@test -f $(SERVICES_ENV) || { echo "no local services: run 'make up' first"; exit 1; }
	@[[ "$(BATCH)" =~ ^[1-9][0-9]*$$ ]] || { echo "BATCH must be a positive integer, got '$(BATCH)'"; exit 2; }
	$(WITH_SERVICES) $(RUN) mlops generate --batches $(BATCH) --rows $(ROWS) --if-missing
	$(WITH_SERVICES) $(RUN) prefect deployment run "ML Training Pipeline/ml-pipeline" \
	  --param batch_number=$(BATCH) --param candidates=$(CANDIDATES) --watch || true
	$(WITH_SERVICES) $(RUN) mlops status

FROM ?= dev
TO   ?= prod
.PHONY: promote
promote: venv ## pin TO's model to FROM's champion, on a new branch for a pull request: FROM=dev TO=prod
	$(RUN) mlops promote --from $(FROM) --to $(TO)

.PHONY: ui-prefect
ui-prefect: venv ## Prefect UI on the embedded runs: http://127.0.0.1:4200
	$(RUN) prefect server start --host 127.0.0.1 --port 4200

.PHONY: ui-mlflow
ui-mlflow: venv ## MLflow UI on the embedded runs: http://127.0.0.1:5000
	$(RUN) mlflow ui --backend-store-uri sqlite:///$(STATE)/mlflow.db --host 127.0.0.1 --port 5000

.PHONY: shell
shell: venv ## a shell with prefect, mlflow and mlops on PATH (pointed at the local services when they are up)
	@bash --rcfile <(printf '%s\n' '[ -f ~/.bashrc ] && source ~/.bashrc' 'source .venv/bin/activate' \
	  '[ -f $(SERVICES_ENV) ] && { set -a; source $(SERVICES_ENV); set +a; }' 'PS1="(mlops) $$PS1"') -i

.PHONY: clean
clean: ## forget the embedded state (.mlops): data, runs, models
	rm -rf .mlops

# Kubernetes verbs (kind-up, images, deploy, port-forward, kind-down) live beside the chart.
-include mk/kubernetes.mk
# make e2e: the chart on a real control plane built from source (no Docker), and its binaries.
-include mk/e2e.mk
