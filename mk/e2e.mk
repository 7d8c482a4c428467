# make e2e: the chart on a real Kubernetes control plane, no Docker needed. Included by the Makefile.
# tests/e2e starts etcd, kube-apiserver, kube-controller-manager and kube-scheduler as local processes on
# loopback and stops them at the end; the binaries are built here, once, through the Go module proxy.

# The releases are pinned in hack/k8s/go.mod and hack/etcd/go.mod, nowhere else.
K8S_VERSION  := $(shell awk '$$1 == "k8s.io/kubernetes" { print $$2; exit }' hack/k8s/go.mod)
ETCD_VERSION := $(shell awk '$$1 == "go.etcd.io/etcd/server/v3" { print $$2; exit }' hack/etcd/go.mod)
K8S_BIN      := $(BIN)/k8s/$(K8S_VERSION)
ETCD_BIN     := $(BIN)/etcd/$(ETCD_VERSION)
K8S_COMMANDS := kube-apiserver kube-controller-manager kube-scheduler kubectl
K8S_TARGETS  := $(addprefix $(K8S_BIN)/,$(K8S_COMMANDS))
E2E_DIR      ?= $(CURDIR)/.mlops/e2e

# As upstream's release builds: static, no debug paths, and the real version in every binary (else they
# report v0.0.0-master, which kubectl's and helm's version checks refuse). The build date is the release
# tag's, from the module proxy, so that two builds of one release are identical.
K8S_SEMVER  := $(subst ., ,$(K8S_VERSION:v%=%))
K8S_LDFLAGS = -s -w $(foreach pkg,k8s.io/component-base/version k8s.io/client-go/pkg/version,\
  -X $(pkg).gitVersion=$(K8S_VERSION) -X $(pkg).gitMajor=$(word 1,$(K8S_SEMVER)) \
  -X $(pkg).gitMinor=$(word 2,$(K8S_SEMVER)) -X $(pkg).gitCommit= -X $(pkg).gitTreeState=clean \
  -X $(pkg).buildDate=$$build_date)

$(K8S_TARGETS) &:
	@mkdir -p $(K8S_BIN)
	@echo "building Kubernetes $(K8S_VERSION) ($(K8S_COMMANDS)): about 10 minutes on 2 cores the first time"
	cd hack/k8s && build_date=$$(go list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes) && \
	  CGO_ENABLED=0 go build -trimpath -tags selinux,notest -ldflags "$(K8S_LDFLAGS)" -o $(K8S_BIN)/ \
	    $(addprefix k8s.io/kubernetes/cmd/,$(K8S_COMMANDS))

$(ETCD_BIN)/etcd:
	@mkdir -p $(ETCD_BIN)
	cd hack/etcd && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o $@ go.etcd.io/etcd/server/v3

.PHONY: k8s-bins
k8s-bins: $(K8S_TARGETS) $(ETCD_BIN)/etcd ## build the pinned Kubernetes control plane, kubectl and etcd into bin/

.PHONY: e2e
e2e: venv $(if $(shell command -v helm 2>/dev/null),,$(BIN)/helm) argocd-crds k8s-bins ## the chart on a real control plane (tests/e2e); logs in .mlops/e2e
	@mkdir -p $(E2E_DIR)
	@status=0; \
	MLOPS_E2E=1 MLOPS_E2E_DIR=$(E2E_DIR) MLOPS_K8S_BIN=$(K8S_BIN) MLOPS_ETCD_BIN=$(ETCD_BIN) \
	  $(RUN) pytest tests/e2e --durations=8 2>&1 | tee $(E2E_DIR)/pytest.log || status=$$?; \
	$(RUN) python -m tests.e2e.processes $(E2E_DIR)/cluster/logs; \
	exit $$status
