# Two commands for a newcomer: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

# Libraries that load pgkd's output without pgkd (SetFit, Hugging Face Optimum), in a venv of
# their own: they pin transformers versions the main venv does not have. The tests of
# tests/export/test_load_without_pgkd.py run them in a subprocess.
INTEROP ?= .venv-interop
export PGKD_INTEROP_PYTHON := $(abspath $(INTEROP))/bin/python

# Scratch venvs of the CI checks below, rebuilt on every run.
FLOORS ?= .venv-floors
FRESH  ?= .venv-fresh

.PHONY: install interop demo test floors fresh-demo lint format bench clean

$(VENV)/.installed: pyproject.toml Makefile $(wildcard plugins/*/pyproject.toml)
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	# torch is pinned to the CPU build; llama-cpp-python compiles from source the first time (8-14 min).
	$(PIP) install --quiet "torch==2.13.0" -e ".[local,onnx,aiohttp,datasets,ray,distributed,dev]"
	for p in plugins/*/; do $(PIP) install --quiet --no-deps -e "$$p" || exit 1; done
	# The MLflow plugin's client (the skinny build leaves torch and pyarrow alone), and pandas,
	# which its pyfunc model needs and mlflow-skinny does not bring.
	$(PIP) install --quiet "mlflow-skinny==3.17.2" "pandas>=2.0"
	touch $@

install: $(VENV)/.installed

$(INTEROP)/.installed: Makefile
	$(PYTHON) -m venv $(INTEROP)
	$(INTEROP)/bin/python -m pip install --quiet --upgrade pip
	$(INTEROP)/bin/python -m pip install --quiet "torch==2.13.0" "setfit==1.2.0" \
		"optimum-onnx[onnxruntime]==0.1.0" "transformers==4.57.6"
	touch $@

interop: $(INTEROP)/.installed

# The demo runs the paper's method alone; `make demo DEMO_PLUGINS=budget` adds installed plugins.
DEMO_PLUGINS ?=

demo: install
	PGKD_PLUGINS="$(DEMO_PLUGINS)" $(VENV)/bin/pgkd run examples/demo.toml --out runs/demo --overwrite

test: install interop
	$(PY) -m pytest -q -x -p no:cacheprovider tests $(wildcard plugins/*/tests)

# The oldest provider SDKs pyproject.toml allows, installed exactly, under the teacher tests.
floors:
	rm -rf $(FLOORS)
	$(PYTHON) -m venv $(FLOORS)
	$(FLOORS)/bin/python -m pip install --quiet "torch==2.13.0" -e ".[aiohttp,dev]" \
		$$($(PYTHON) .ci/floor_pins.py)
	$(FLOORS)/bin/python -m pytest -q -x -p no:cacheprovider tests/teachers

# What a user does without this Makefile: a fresh venv, torch (the CPU wheel here; see the
# README), `pip install ".[local]"`, the demo. pip's wheel cache holds the llama-cpp-python build.
fresh-demo:
	rm -rf $(FRESH) build
	$(PYTHON) -m venv $(FRESH)
	$(FRESH)/bin/python -m pip install --quiet "torch==2.13.0"
	$(FRESH)/bin/python -m pip install --quiet ".[local]"
	env -u HF_HUB_OFFLINE -u TRANSFORMERS_OFFLINE -u TOKENIZERS_PARALLELISM -u PGKD_INTEROP_PYTHON \
		$(FRESH)/bin/pgkd run examples/demo.toml --out runs/fresh-demo --overwrite --quiet

lint: install
	$(VENV)/bin/ruff check pgkd tests plugins benchmarks
	$(VENV)/bin/ruff format --check pgkd tests plugins benchmarks
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff format pgkd tests plugins benchmarks
	$(VENV)/bin/ruff check --fix pgkd tests plugins benchmarks

clean:
	rm -rf $(VENV) $(INTEROP) $(FLOORS) $(FRESH) build runs .pytest_cache .mypy_cache .ruff_cache
