# shipflow — the two commands of the quick start are `make demo` and `make test`.
# Each first runs scripts/setup.sh, which installs what is missing (Debian packages, the pinned
# Go peers for the tests, the venv) and only looks when everything is there (< 2 s).
VENV ?= .venv
PY := $(VENV)/bin/python
export VENV
export PATH := $(CURDIR)/$(VENV)/bin:$(or $(SHIPFLOW_PEERS_BIN),/opt/shipflow-peers/bin):$(PATH)

.PHONY: setup-demo setup-test venv demo test lint typecheck bench clean

setup-demo:
	@bash scripts/setup.sh demo

setup-test:
	@bash scripts/setup.sh test

venv:
	@bash scripts/setup.sh venv

demo: setup-demo
	bash scripts/demo.sh

lint: venv
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

typecheck: venv
	$(VENV)/bin/mypy

# Not `test: lint typecheck`: the set-up must finish before any check starts, also under -j.
test: setup-test
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest

bench: venv
	$(PY) benchmarks/registry.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build src/*.egg-info
