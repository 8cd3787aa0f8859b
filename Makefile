# rft_nb: `make test` and `make demo` work on a fresh clone (they create .venv and install first).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
# CPU torch must be installed before anything that depends on torch, or pip pulls a CUDA build.
TORCH ?= torch==2.13.0
export PIP_DISABLE_PIP_VERSION_CHECK=1
# DeepSpeed compiles two small C++ ops (shm comm, cpu_adam) on first use: keep them between runs.
export TORCH_EXTENSIONS_DIR ?= $(CURDIR)/.cache/torch_extensions
# The pinned GPU packages' wheels (Unsloth, unsloth_zoo, vLLM) and DeepSpeed's sdist, read offline by the tests.
WHEELS := .cache/wheels

.PHONY: install demo test check-readme check-clean check-export nbtest pytest check-install export clean-nbs readme lint docs outputs nb-budget nb-calm wheels stack-facts check-gpu-extra gpu-wheels gpu-check-cpu

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e '.[dev]'
	$(MAKE) --no-print-directory check-install
	touch $@

# The CPU install must never contain CUDA packages or torchvision (torchvision breaks TRL here).
check-install:
	@bad=$$($(PY) -m pip list --format=freeze 2>/dev/null | grep -iE '^(nvidia-|torchvision|triton)' || true); \
	if [ -n "$$bad" ]; then echo "CPU install pulled GPU packages:"; echo "$$bad"; exit 1; fi; \
	echo "check-install: no nvidia-*, torchvision or triton packages; torch $$($(PY) -c 'import torch; print(torch.__version__)')"

# Notebooks are the source of truth: they must be clean and the package must match them.
check-clean: install
	@before=$$(find nbs -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' | sort | xargs cat | sha1sum); \
	$(BIN)/nbdev-clean; \
	after=$$(find nbs -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' | sort | xargs cat | sha1sum); \
	if [ "$$before" != "$$after" ]; then echo "notebooks were not clean: run nbdev-clean and commit"; exit 1; fi; echo "check-clean: notebooks clean"

check-export: install
	@before=$$(find rft_nb -name '*.py' | sort | xargs cat | sha1sum); \
	$(BIN)/nbdev-export; \
	after=$$(find rft_nb -name '*.py' | sort | xargs cat | sha1sum); \
	if [ "$$before" != "$$after" ]; then echo "rft_nb/ did not match the notebooks: run nbdev-export and commit"; exit 1; fi; echo "check-export: package matches notebooks"

nbtest: install wheels
	$(BIN)/nbdev-test --n-workers 2

pytest: install wheels
	$(BIN)/pytest -q

# The browser tests of the docs (tests/test_docs.py) read the site `docs` builds, so docs comes before pytest.
test: check-clean check-export check-readme check-gpu-extra nb-budget nb-calm nbtest docs pytest

# The documentation site in _docs/ (nbdev's doc processing, then nbconvert: Quarto cannot be installed offline).
docs: install
	$(PY) scripts/docs.py

# Execute every notebook (cells nbdev-test would run) and keep the outputs, then nbdev-clean; NBS=path picks some.
outputs: install
	$(PY) scripts/run_notebooks.py $(NBS)
	$(PY) scripts/nb_budget.py $(NBS)

# Each notebook and each stored output within pyproject's [tool.rft_nb.notebook_budget].
nb-budget: install
	@$(PY) scripts/nb_budget.py

# Stored outputs without known-harmless library noise and without a figure shown twice (scripts/nb_calm.py).
nb-calm: install
	@$(PY) scripts/nb_calm.py $(NBS)

# Downloaded once per checkout (vLLM's wheel is about 320 MB); the GPU-stack tests skip, saying why, without them.
wheels: $(WHEELS)/.done

$(WHEELS)/.done: pyproject.toml | install
	$(PY) -m rft_nb.stack download-wheels $(WHEELS)
	touch $@

# The facts rft-plan and --dry-run need from the pinned wheels (Unsloth's gate, vLLM's architectures, TRL's range),
# committed in rft_nb/stack_facts.json; run after a pin moves, then commit (tests/test_stack_facts.py checks it).
stack-facts: install wheels
	$(PY) -m rft_nb.stack write-facts

# Resolve base + [gpu] for a GPU box (Linux x86-64, Python 3.12, CUDA torch) from the registry's metadata, without
# installing or downloading wheels; fail on a conflict or a version outside a package's declared support.
check-gpu-extra: install wheels
	$(PY) -m rft_nb.stack check-gpu-extra --torch $(TORCH) --report .cache/gpu-extra-report.json

# The wheels the GPU box lacks for benchmarks/gpu_check.sh (Linux x86-64, Python 3.12), packed into .whl/call1, .whl/call2:
# each within the device tool's 64 MiB per call together with the working tree; fails if they do not fit.
gpu-wheels: install
	$(PY) benchmarks/gpu_wheels.py

# The GPU check's CPU mode (tiny models, 2 GRPO steps): its plumbing, outputs and timeouts, without a GPU.
gpu-check-cpu: install
	OMP_NUM_THREADS=1 PATH=$(CURDIR)/$(BIN):$$PATH bash benchmarks/gpu_check.sh --cpu --out outputs/gpu_check_cpu

export: install
	$(BIN)/nbdev-clean && $(BIN)/nbdev-export

readme: install
	$(PY) scripts/readme.py

check-readme: install
	@$(PY) scripts/readme.py --check

# The CPU demo: synthetic counting -> small Qwen2-VL -> CoT-SFT -> GRPO -> evaluation (outputs/demo/summary.json).
demo: install
	$(BIN)/rft-demo $(DEMO_ARGS)
