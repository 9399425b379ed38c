# retail-sim — `make demo` runs the pipeline on built-in synthetic data; `make test` runs the tests.
# RAW= and PREPARED= point the data targets at other folders, e.g.
#   make splits RAW=/data/lgsr PREPARED=/data/prepared

PYTHON  ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
RS      := $(BIN)/retail-sim
RAW      ?= data/raw
PREPARED ?= data/prepared
RUN      ?= runs/demo

.PHONY: install demo synth splits cache audit train evaluate test lint bench clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# the CPU build of torch lies on this machine's disk; install the pin before anything pulls a CUDA build
	$(BIN)/pip install --quiet torch==2.13.0

$(VENV)/.installed: $(BIN)/activate pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(RS) synth --out $(RAW)
	$(RS) splits --raw $(RAW) --out $(PREPARED)
	$(RS) audit --prepared $(PREPARED)

synth: install
	$(RS) synth --out $(RAW)

splits: install
	$(RS) splits --raw $(RAW) --out $(PREPARED)

cache: install
	$(RS) cache --prepared $(PREPARED)

audit: install
	$(RS) audit --prepared $(PREPARED)

train: install
	$(RS) train --prepared $(PREPARED) --out $(RUN)

evaluate: install
	$(RS) evaluate --checkpoint $(RUN)/best.pt --prepared $(PREPARED)

test: install
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check retail_sim tests

bench: install
	$(RS) bench synth --rows 10000000

clean:
	rm -rf $(VENV) data/raw data/prepared runs .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
