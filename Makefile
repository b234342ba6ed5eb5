# The two commands a newcomer needs: `make demo` and `make test`.
# Both build .venv from scratch on a fresh machine; nothing else is assumed installed.
#
# Installs come from a lock, never from pyproject.toml's ranges: requirements/runtime.txt (the
# package and its `broker` extra) and requirements/dev.txt (that plus the `dev` extra), every
# package pinned with the sha256 of each of its files on PyPI and installed with
# `pip install --require-hashes`. Written by pip-tools (pip-compile --generate-hashes) rather than
# uv because everything here already speaks pip: the Dockerfile and CI install with plain pip and
# need no second installer, pip honours the machine's own pip configuration (its local wheels and
# mirrors; uv reads none of it), and the lock is a requirements file anyone can read or install
# by hand. The cost is a lock resolved for one Python (3.11, the image's and CI's) on Linux.
# `make lock` rewrites the lock after pyproject.toml's dependencies change, moving nothing else;
# `make upgrade` moves every pin to the newest release allowed, then runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.installed-runtime
DEV := $(VENV)/.installed-dev
LOCK_RUNTIME := requirements/runtime.txt
LOCK_DEV := requirements/dev.txt
# --all-build-deps pins setuptools too, so loopwatch itself is built without fetching anything
# (--no-build-isolation below); the index options stay out, the lock holds PyPI's hashes.
COMPILE := CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --generate-hashes \
	--allow-unsafe --strip-extras --all-build-deps --no-emit-index-url --no-emit-find-links

.PHONY: demo test locked lint types unit bench lock upgrade clean

# $(call venv,LOCK): a new lock (or no venv yet) builds .venv anew with exactly LOCK, since pip
# cannot remove what a lock dropped; a change to pyproject.toml alone reinstalls loopwatch only.
# `$?` names the prerequisites newer than the stamp (all of them when there is none).
define venv
	@set -e; if [ ! -x $(BIN)/python ] || echo '$?' | grep -q 'requirements/'; then \
		echo "building $(VENV) from $(1)"; \
		rm -rf $(VENV); \
		$(PYTHON) -m venv $(VENV); \
		$(BIN)/python -m pip install -q --require-hashes -r $(1); \
	fi
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
endef

$(RUNTIME): $(LOCK_RUNTIME) pyproject.toml
	$(call venv,$(LOCK_RUNTIME))
	touch $(RUNTIME)

# The dev lock holds every runtime pin at the same version, so it stands for both.
$(DEV): $(LOCK_DEV) $(LOCK_RUNTIME) pyproject.toml
	$(call venv,$(LOCK_DEV))
	touch $(DEV) $(RUNTIME)

# The live service on embedded defaults: a bundled broker, the worker, a simulated S3 self-loop;
# it stops by itself once the loop is reported. `loopwatch demo` is the offline twin (replay).
demo: $(RUNTIME)
	@$(BIN)/python -m pip check >/dev/null || { $(BIN)/python -m pip check; \
		echo "$(LOCK_RUNTIME) does not satisfy pyproject.toml: run make lock"; exit 1; }
	$(BIN)/loopwatch up --simulate s3-self-loop --timeout 120

test: locked lint types unit

# The lock still satisfies pyproject.toml (a dependency added there but not locked fails here).
locked: $(DEV)
	@$(BIN)/python -m pip check >/dev/null || { $(BIN)/python -m pip check; \
		echo "$(LOCK_DEV) does not satisfy pyproject.toml: run make lock"; exit 1; }

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

# The runtime lock is compiled from a copy of the dev lock, so it keeps the dev lock's versions.
lock: $(DEV)
	$(COMPILE) --extra broker --extra dev -o $(LOCK_DEV) pyproject.toml
	cp $(LOCK_DEV) $(LOCK_RUNTIME)
	$(COMPILE) --extra broker -o $(LOCK_RUNTIME) pyproject.toml

upgrade: $(DEV)
	$(COMPILE) --upgrade --extra broker --extra dev -o $(LOCK_DEV) pyproject.toml
	cp $(LOCK_DEV) $(LOCK_RUNTIME)
	$(COMPILE) --extra broker -o $(LOCK_RUNTIME) pyproject.toml
	$(MAKE) test

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .pytest_cache .ruff_cache
