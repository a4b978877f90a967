# The two commands of a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install lint docs clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,spark]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/growthloop demo

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -n auto --maxprocesses 4 --dist loadfile

docs: $(STAMP)
	$(BIN)/growthloop schema --markdown > docs/data-model.md
	$(BIN)/growthloop kpi --markdown > docs/metrics.md
	$(BIN)/growthloop kpi --glossary > docs/glossary.md

clean:
	rm -rf $(VENV) demo .pytest_cache .ruff_cache
