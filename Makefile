# The two commands a newcomer needs: `make demo` and `make test`.
# Both build .venv from scratch on a fresh machine; nothing else is assumed installed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.installed-runtime
DEV := $(VENV)/.installed-dev

.PHONY: demo test lint types unit bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(RUNTIME): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[broker]'
	touch $(RUNTIME)

$(DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(DEV) $(RUNTIME)

# The live service on embedded defaults: a bundled broker, the worker, a simulated S3 self-loop;
# it stops by itself once the loop is reported. `loopwatch demo` is the offline twin (replay).
demo: $(RUNTIME)
	$(BIN)/loopwatch up --simulate s3-self-loop --timeout 120

test: $(DEV) lint types unit

lint: $(DEV)
	$(BIN)/ruff check loopwatch tests bench
	$(BIN)/ruff format --check loopwatch tests bench

types: $(DEV)
	$(BIN)/mypy loopwatch

unit: $(DEV)
	$(BIN)/pytest -q

bench: $(DEV)
	$(BIN)/python bench/replay_bench.py
	$(BIN)/python bench/engine_bench.py
	$(BIN)/python bench/stream_bench.py
	$(BIN)/python bench/changelog_bench.py

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .pytest_cache .ruff_cache
