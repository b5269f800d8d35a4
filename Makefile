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

deploy: $(STAMP)
	@echo "make deploy: the deploy/ kustomization arrives with the 'ship it' issue" >&2; exit 2

undeploy: $(STAMP)
	@echo "make undeploy: the deploy/ kustomization arrives with the 'ship it' issue" >&2; exit 2

# The README walkthrough on the embedded cluster (tiny CPU model for the preset's weights), then torn down.
demo: $(STAMP)
	$(BIN)/kaito demo

bench: $(STAMP)
	@set -e; for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b; done

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
