# make e2e: the chart on a real Kubernetes cluster, no Docker needed. Included by the Makefile.
# tests/e2e starts etcd, kube-apiserver, kube-controller-manager and kube-scheduler as local processes, and a
# node (containerd, kubelet, kube-proxy, CoreDNS) on a bridge of its own, and removes all of it at the end;
# the binaries are built here, once, through the Go module proxy, the images with buildah.

# The releases are pinned in hack/k8s/go.mod, hack/etcd/go.mod, hack/coredns/go.mod and hack/kube-router/go.mod,
# nowhere else.
K8S_VERSION  := $(shell awk '$$1 == "k8s.io/kubernetes" { print $$2; exit }' hack/k8s/go.mod)
ETCD_VERSION := $(shell awk '$$1 == "go.etcd.io/etcd/server/v3" { print $$2; exit }' hack/etcd/go.mod)
# (CoreDNS is hack/coredns's one direct requirement, so go mod tidy writes it as "require MODULE VERSION")
COREDNS_VERSION := $(shell awk '{ sub(/^require[ \t]+/, "") } $$1 == "github.com/coredns/coredns" { print $$2; exit }' hack/coredns/go.mod)
KUBE_ROUTER_VERSION := $(shell awk '$$1 == "github.com/cloudnativelabs/kube-router/v2" { print $$2; exit }' hack/kube-router/go.mod)
K8S_BIN      := $(BIN)/k8s/$(K8S_VERSION)
KUBE_ROUTER_BIN := $(BIN)/kube-router/$(KUBE_ROUTER_VERSION)
ETCD_BIN     := $(BIN)/etcd/$(ETCD_VERSION)
COREDNS_BIN  := $(BIN)/coredns/$(COREDNS_VERSION)
K8S_COMMANDS := kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy
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

# $(call cache_dir,DIR,KEY): DIR (in bin/) is a link to the build cache's directory KEY; each recipe below
# builds into it only what it does not hold yet.
cache_dir = mkdir -p $(BUILD_CACHE)/$(2) $(dir $(1)) && ln -sfn $(BUILD_CACHE)/$(2) $(1)

$(K8S_TARGETS) &:
	@$(call cache_dir,$(K8S_BIN),k8s/$(K8S_VERSION))
	@if [ -n "$$(cd $(K8S_BIN) && ls $(K8S_COMMANDS) 2>&1 >/dev/null)" ]; then \
	  echo "building Kubernetes $(K8S_VERSION) ($(K8S_COMMANDS)): about 10 minutes on 2 cores the first time"; \
	  cd hack/k8s && build_date=$$(go list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes) && \
	  CGO_ENABLED=0 go build -trimpath -tags selinux,notest -ldflags "$(K8S_LDFLAGS)" -o $(K8S_BIN)/ \
	    $(addprefix k8s.io/kubernetes/cmd/,$(K8S_COMMANDS)); fi

$(ETCD_BIN)/etcd:
	@$(call cache_dir,$(ETCD_BIN),etcd/$(ETCD_VERSION))
	test -x $@ || { cd hack/etcd && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o $@ go.etcd.io/etcd/server/v3; }

# The node's NetworkPolicy enforcer: kube-router, of which tests/e2e runs only the NetworkPolicy controller
# (iptables and ipset). kube-network-policies, kind's, needs the kernel's nft queue expression, which this
# machine's kernel lacks (CONFIG_NFT_QUEUE is not set).
$(KUBE_ROUTER_BIN)/kube-router:
	@$(call cache_dir,$(KUBE_ROUTER_BIN),kube-router/$(KUBE_ROUTER_VERSION))
	test -x $@ || { cd hack/kube-router && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o $@ github.com/cloudnativelabs/kube-router/v2/cmd/kube-router; }

# hack/coredns/main.go: CoreDNS with only the plugins the node's cluster DNS needs (cached under the hash of
# its sources, which a fresh clone's newer files do not change).
COREDNS_KEY = $(shell cat hack/coredns/main.go hack/coredns/go.mod hack/coredns/go.sum | sha256sum | cut -c1-16)
$(COREDNS_BIN)/coredns: hack/coredns/main.go hack/coredns/go.mod
	@$(call cache_dir,$(COREDNS_BIN),coredns/$(COREDNS_VERSION)-$(COREDNS_KEY))
	test -x $@ || { cd hack/coredns && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o $@ .; }

.PHONY: k8s-bins
k8s-bins: $(K8S_TARGETS) $(ETCD_BIN)/etcd $(COREDNS_BIN)/coredns $(KUBE_ROUTER_BIN)/kube-router ## build the pinned Kubernetes control plane, kubectl, etcd, CoreDNS and kube-router into bin/

# The node's runtime comes from Debian: containerd, runc and the CNI plugins; debootstrap and buildah build
# its images. Installed here when missing (tests run as root).
NODE_PACKAGES := containerd runc containernetworking-plugins iptables ipset debootstrap buildah
.PHONY: node-packages
node-packages:
	@missing=$$(for p in $(NODE_PACKAGES); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing $$missing"; apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; fi

# Images for the node, without a registry: a Debian root filesystem from debootstrap stands in for
# python:3.11-slim (Python from Debian), the project's Dockerfiles are built on it with buildah, and each
# image is saved as a tarball that the tests import into the node's containerd. The tarballs and buildah's
# storage (its layer cache) live in the build cache; bin/images/ holds links to them.
IMAGES_DIR  := $(BIN)/images
IMAGE_CACHE := $(BUILD_CACHE)/images
IMAGE_BUILD := IMAGE_STORE=$(BUILD_CACHE)/image-store hack/images/build.sh
BASE_IMAGE  := localhost/debian-python:3.11-bookworm

# $(call cached_image,KEY,ARGS): the target is a link to the build cache's <name>-<hash> file, which
# `hack/images/build.sh ARGS` (@OUT@: that file) builds unless a build of the same inputs is there. The hash
# covers KEY (what the arguments pin) and every prerequisite: a file's contents, a linked image's cache name.
define cached_image
@mkdir -p $(IMAGE_CACHE) $(@D)
@key=$$({ echo '$(1)'; for f in $^; do if [ -L "$$f" ]; then readlink "$$f"; else sha256sum <"$$f"; fi; done; } \
  | sha256sum | cut -c1-16) && out=$(IMAGE_CACHE)/$(basename $(@F))-$$key$(suffix $@) && \
  if [ -e "$$out" ]; then echo "$(@F): built before, from the build cache"; \
  else $(IMAGE_BUILD) $(subst @OUT@,"$$out",$(2)); fi && ln -sfn "$$out" $@
endef

$(IMAGES_DIR)/base.tar: hack/images/build.sh | node-packages
	$(call cached_image,$(BASE_IMAGE),base @OUT@)

$(IMAGES_DIR)/pause.tar: hack/pause/main.go hack/images/build.sh | node-packages
	@mkdir -p $(IMAGES_DIR)
	cd hack/pause && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o $(IMAGES_DIR)/pause .
	$(call cached_image,pause,pause @OUT@ $(IMAGES_DIR)/pause)

$(IMAGES_DIR)/flow-runner.tar: images/flow-runner/Dockerfile pyproject.toml uv.lock prefect.yaml \
    $(shell git ls-files flows datasets 2>/dev/null) $(IMAGES_DIR)/base.tar
	$(call cached_image,$(FLOW_RUNNER_IMAGE),dockerfile @OUT@ images/flow-runner/Dockerfile . \
	  localhost/$(FLOW_RUNNER_IMAGE) --build-arg PYTHON_IMAGE=$(BASE_IMAGE) --build-arg UV_SYSTEM_CERTS=true)

$(IMAGES_DIR)/mlflow.tar: images/mlflow/Dockerfile pyproject.toml uv.lock $(IMAGES_DIR)/base.tar
	$(call cached_image,$(MLFLOW_IMAGE),dockerfile @OUT@ images/mlflow/Dockerfile . localhost/$(MLFLOW_IMAGE) \
	  --build-arg PYTHON_IMAGE=$(BASE_IMAGE) --build-arg UV_SYSTEM_CERTS=true)

# PostgreSQL from Debian (15, bookworm's), standing in for the official image the chart defaults to.
POSTGRES_IMAGE := mlops-platform/postgres:15-bookworm
$(IMAGES_DIR)/postgres.tar: images/postgres/Dockerfile images/postgres/entrypoint.sh $(IMAGES_DIR)/base.tar
	$(call cached_image,$(POSTGRES_IMAGE),dockerfile @OUT@ images/postgres/Dockerfile images/postgres \
	  localhost/$(POSTGRES_IMAGE) --build-arg BASE_IMAGE=$(BASE_IMAGE))

# MinIO's Dockerfile compiles in a golang image: the base plus this machine's Go, with its module and build
# caches mounted into the build (only into RUN steps), so a warm cache makes it a link step.
$(IMAGES_DIR)/golang.ref: $(IMAGES_DIR)/base.tar
	$(call cached_image,$(shell go env GOVERSION),golang @OUT@)

$(IMAGES_DIR)/minio.tar: images/minio/Dockerfile $(IMAGES_DIR)/golang.ref
	$(call cached_image,$(MINIO_IMAGE) $(MINIO_VERSION),dockerfile @OUT@ images/minio/Dockerfile images/minio \
	  localhost/$(MINIO_IMAGE) --build-arg GOLANG_IMAGE=$$(cat $(IMAGES_DIR)/golang.ref) \
	  --build-arg RUNTIME_IMAGE=$(BASE_IMAGE) --build-arg MINIO_VERSION=$(MINIO_VERSION) \
	  --volume $$(go env GOMODCACHE):/root/go/pkg/mod --volume $$(go env GOCACHE):/root/.cache/go-build)

NODE_IMAGES := pause flow-runner mlflow postgres minio
.PHONY: node-images
node-images: $(NODE_IMAGES:%=$(IMAGES_DIR)/%.tar) ## build the e2e node's images offline (debootstrap, buildah) into bin/images/

.PHONY: e2e
e2e: venv $(if $(shell command -v helm 2>/dev/null),,$(BIN)/helm) argocd-crds k8s-bins node-packages node-images ## a real cluster from source: the chart, the worker's Jobs, a node running them (tests/e2e); logs in .mlops/e2e
	@mkdir -p $(E2E_DIR)
	@status=0; \
	MLOPS_E2E=1 MLOPS_E2E_DIR=$(E2E_DIR) MLOPS_K8S_BIN=$(K8S_BIN) MLOPS_ETCD_BIN=$(ETCD_BIN) MLOPS_COREDNS_BIN=$(COREDNS_BIN) \
	  MLOPS_KUBE_ROUTER_BIN=$(KUBE_ROUTER_BIN) \
	  MLOPS_NODE_IMAGES=$(IMAGES_DIR) $(RUN) pytest tests/e2e --durations=8 2>&1 | tee $(E2E_DIR)/pytest.log || status=$$?; \
	$(RUN) python -m tests.e2e.processes $(E2E_DIR)/cluster/logs || status=1; \
	$(RUN) python -m tests.e2e.node $(E2E_DIR)/node || status=1; \
	exit $$status
