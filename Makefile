# Two commands on a fresh machine: `make run` and `make test`. Everything else is optional.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench bench-reconcile browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the dependency list changes; the project itself is installed editable.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/amazing-store run --seed-demo

lint: $(STAMP)
	$(BIN)/ruff check store db bot webapp sync tests bench
	$(BIN)/mypy

browser:
	@bash scripts/ensure-chromium.sh

test: $(STAMP) lint browser
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	@bash scripts/ensure-wrk.sh
	$(BIN)/python -m bench

# the drift reconcile benchmark alone (10,000 SKUs per marketplace against the rate-limit bound)
bench-reconcile: $(STAMP)
	$(BIN)/python -m bench.reconcile_bench

clean:
	rm -rf $(VENV) var
