# The two commands a newcomer needs: `make demo` and `make test`.
# Both build .venv from scratch on a fresh machine; nothing else is assumed installed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint types unit bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/loopwatch demo

test: $(STAMP) lint types unit

lint: $(STAMP)
	$(BIN)/ruff check loopwatch tests bench
	$(BIN)/ruff format --check loopwatch tests bench

types: $(STAMP)
	$(BIN)/mypy loopwatch

unit: $(STAMP)
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python bench/replay_bench.py

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .pytest_cache .ruff_cache
