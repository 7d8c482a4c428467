# The cluster verbs: make kind-up images deploy deploy-flows port-forward (and kind-down).
# Included by the Makefile; needs Docker for kind and the image builds.

KIND_VERSION  := v0.33.0
KIND_CLUSTER  ?= mlops
NAMESPACE     ?= mlops
RELEASE       ?= mlops
IMAGE_TAG     ?= 0.1.0
PYTHON_IMAGE  ?= python:3.11.14-slim-bookworm
GOLANG_IMAGE  ?= golang:1.26-bookworm
FLOW_RUNNER_IMAGE := mlops-platform/flow-runner:$(IMAGE_TAG)
FLOW_RUNNER_GPU_IMAGE := mlops-platform/flow-runner-gpu:$(IMAGE_TAG)
MLFLOW_IMAGE      := mlops-platform/mlflow:$(IMAGE_TAG)
MINIO_IMAGE       := mlops-platform/minio:$(MINIO_VERSION)
KIND := $(shell command -v kind 2>/dev/null || echo $(BIN)/kind)

$(BIN)/kind:
	@mkdir -p $(BIN)
	GOBIN=$(BIN) go install sigs.k8s.io/kind@$(KIND_VERSION)

.PHONY: kind-up
kind-up: $(if $(shell command -v kind 2>/dev/null),,$(BIN)/kind) ## create the kind cluster (needs Docker)
	@$(KIND) get clusters 2>/dev/null | grep -qx $(KIND_CLUSTER) || \
	  $(KIND) create cluster --name $(KIND_CLUSTER) --config infra/kind/cluster.yaml --wait 120s

.PHONY: images
images: ## build the flow-runner, mlflow and minio images and load them into kind
	docker build -f images/flow-runner/Dockerfile --build-arg PYTHON_IMAGE=$(PYTHON_IMAGE) -t $(FLOW_RUNNER_IMAGE) .
	docker build -f images/mlflow/Dockerfile --build-arg PYTHON_IMAGE=$(PYTHON_IMAGE) -t $(MLFLOW_IMAGE) .
	docker build -f images/minio/Dockerfile --build-arg GOLANG_IMAGE=$(GOLANG_IMAGE) \
	  --build-arg MINIO_VERSION=$(MINIO_VERSION) -t $(MINIO_IMAGE) images/minio
	$(KIND) load docker-image --name $(KIND_CLUSTER) $(FLOW_RUNNER_IMAGE) $(MLFLOW_IMAGE) $(MINIO_IMAGE)

.PHONY: image-gpu
image-gpu: ## build the GPU flow-runner image (the train-gpu deployment's) and load it into kind
	docker build -f images/flow-runner-gpu/Dockerfile --build-arg PYTHON_IMAGE=$(PYTHON_IMAGE) \
	  -t $(FLOW_RUNNER_GPU_IMAGE) .
	$(KIND) load docker-image --name $(KIND_CLUSTER) $(FLOW_RUNNER_GPU_IMAGE)

.PHONY: deploy
deploy: tools ## helm upgrade --install the platform into the cluster and wait for it
	helm upgrade --install $(RELEASE) charts/mlops-platform --namespace $(NAMESPACE) --create-namespace \
	  --wait --timeout 10m \
	  --set images.flowRunner.tag=$(IMAGE_TAG) --set images.flowRunnerGpu.tag=$(IMAGE_TAG) \
	  --set images.mlflow.tag=$(IMAGE_TAG)
	@mkdir -p $(STATE) && echo cluster > $(STATE)/target

.PHONY: deploy-flows-cluster
deploy-flows-cluster: ## register prefect.yaml's deployments on the in-cluster kubernetes pool
	kubectl --namespace $(NAMESPACE) exec deploy/$(RELEASE)-prefect-worker -- \
	  env MLOPS_WORK_POOL=$(K8S_WORK_POOL) MLOPS_PROJECT_DIR=/app prefect --no-prompt deploy --all

.PHONY: port-forward
port-forward: ## Prefect UI :4200, MLflow :5000, MinIO console :9001 (Ctrl-C stops all three)
	@trap 'kill 0' INT TERM EXIT; \
	kubectl --namespace $(NAMESPACE) port-forward svc/$(RELEASE)-prefect-server 4200:4200 & \
	kubectl --namespace $(NAMESPACE) port-forward svc/$(RELEASE)-mlflow 5000:5000 & \
	kubectl --namespace $(NAMESPACE) port-forward svc/$(RELEASE)-minio 9001:9001 & \
	echo "Prefect http://127.0.0.1:4200  MLflow http://127.0.0.1:5000  MinIO console http://127.0.0.1:9001"; \
	echo "Prefect's login (user:password): kubectl --namespace $(NAMESPACE) get secret $(RELEASE)-prefect-auth -o jsonpath='{.data.auth-string}' | base64 -d"; \
	echo "MLflow's login: admin, password: kubectl --namespace $(NAMESPACE) get secret $(RELEASE)-mlflow-admin -o jsonpath='{.data.admin-password}' | base64 -d"; \
	wait

.PHONY: kind-down
kind-down: ## delete the kind cluster
	$(KIND) delete cluster --name $(KIND_CLUSTER)
	@rm -f $(STATE)/target
