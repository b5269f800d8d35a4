# kaito — developer entry points. `make test` and `make demo` build their own .venv.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# serving-cpu: vLLM's CPU build for the serving tests and `make demo`; tuning: peft/transformers training.
EXTRAS ?= dev,local,serving-cpu,tuning
IMG ?= ghcr.io/kaito-py/kaito:0.1.0
PYTEST_ARGS ?=

.PHONY: install test lint typecheck unit manifests deploy undeploy demo bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[$(EXTRAS)]"
	@# PyPI's torchvision/torchaudio/torchcodec builds need CUDA and break `import vllm` on CPU machines.
	$(BIN)/pip uninstall --quiet -y torchvision torchaudio torchcodec 2>/dev/null || true
	@touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint unit

manifests: $(STAMP)
	$(BIN)/kaito manifests --output config/crd

# `make deploy IMG=... OVERLAY=default|azure|prometheus`: render deploy/ with the operator image replaced
# (tracked files stay untouched) and apply it server-side (the CRDs are too large for client-side apply's
# last-applied annotation). `make undeploy OVERLAY=...` removes it all again.
OVERLAY ?= default
DEPLOY_DIR = $(if $(filter default,$(OVERLAY)),deploy/default,deploy/overlays/$(OVERLAY))
# The image written in deploy/base/deployment.yaml, which IMG replaces when rendering.
DEPLOY_BASE_IMG := ghcr.io/kaito-py/kaito:0.1.0
DEPLOY_PLACEHOLDER := 00000000-0000-0000-0000-000000000000
UNDEPLOY_TIMEOUT ?= 10m
KUBECTL ?= $(BIN)/kubectl

deploy: $(STAMP)
	@test -f $(DEPLOY_DIR)/kustomization.yaml || { echo "make deploy: no overlay $(DEPLOY_DIR)" >&2; exit 2; }
	@set -euo pipefail; manifest=$$(mktemp); trap 'rm -f "$$manifest"' EXIT; \
	$(KUBECTL) kustomize $(DEPLOY_DIR) | sed 's#image: $(DEPLOY_BASE_IMG)$$#image: $(IMG)#' > "$$manifest"; \
	if grep -q '$(DEPLOY_PLACEHOLDER)' "$$manifest"; then \
	  echo "make deploy: set your Azure values in deploy/overlays/azure/azure.env and workload-identity.yaml" >&2; \
	  exit 2; \
	fi; \
	$(KUBECTL) apply --server-side --force-conflicts --field-manager=kaito-deploy -f "$$manifest"

# Workspaces (and kaito's NodeClaims) go first, while the operator still runs to clear their finalizers and
# delete what they provisioned; then the operator, then the webhook configurations it registered (they carry
# no owner), then everything deploy/ created.
undeploy: $(STAMP)
	-$(KUBECTL) delete workspaces.kaito.sh --all --all-namespaces --ignore-not-found --timeout=$(UNDEPLOY_TIMEOUT)
	-$(KUBECTL) delete nodeclaims.karpenter.sh -l kaito.sh/workspace --ignore-not-found --timeout=$(UNDEPLOY_TIMEOUT)
	$(KUBECTL) delete deployment kaito-operator -n kaito-system --ignore-not-found --wait --timeout=$(UNDEPLOY_TIMEOUT)
	$(KUBECTL) delete validatingwebhookconfiguration kaito-workspace-validation --ignore-not-found
	$(KUBECTL) delete mutatingwebhookconfiguration kaito-workspace-defaulting --ignore-not-found
	$(KUBECTL) delete -k $(DEPLOY_DIR) --ignore-not-found --wait --timeout=$(UNDEPLOY_TIMEOUT)

# The README walkthrough on the embedded cluster (tiny CPU model for the preset's weights), then torn down.
demo: $(STAMP)
	$(BIN)/kaito demo

bench: $(STAMP)
	@set -e; for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b; done

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
