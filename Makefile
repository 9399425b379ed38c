# retail-sim — `make demo` runs the pipeline on built-in synthetic data; `make test` runs the tests.
# RAW= and PREPARED= point the data targets at other folders, e.g.
#   make splits RAW=/data/lgsr PREPARED=/data/prepared

PYTHON  ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
RS      := $(BIN)/retail-sim
RAW      ?= data/raw
SYNTH    ?= data/synth
PREPARED ?= data/prepared
RUN      ?= runs/demo

.PHONY: install demo synth splits cache audit train evaluate test golden wheel-check lint bench clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	# the CPU build of torch lies on this machine's disk; install the pin before anything pulls a CUDA build
	$(BIN)/pip install --quiet torch==2.13.0

$(VENV)/.installed: $(BIN)/activate pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# the whole path on the built-in synthetic data (about 3 minutes on 2 cores), ending with the metrics table;
# the synthetic files go to $(SYNTH), never to $(RAW) where your own LGSR files go; a rerun starts the
# run over (--overwrite)
demo: install
	$(RS) synth --out $(SYNTH)
	$(RS) splits --raw $(SYNTH) --out $(PREPARED)
	$(RS) cache --prepared $(PREPARED)
	$(RS) audit --prepared $(PREPARED)
	$(RS) train --config configs/demo.toml --prepared $(PREPARED) --out $(RUN) --overwrite
	$(RS) evaluate --config configs/demo.toml --checkpoint $(RUN)/best.pt --prepared $(PREPARED) --split test --group-by week

synth: install
	$(RS) synth --out $(SYNTH)

splits: install
	$(RS) splits --raw $(RAW) --out $(PREPARED)

cache: install
	$(RS) cache --prepared $(PREPARED)

audit: install
	$(RS) audit --prepared $(PREPARED)

train: install
	$(RS) train --prepared $(PREPARED) --out $(RUN) $(TRAIN_ARGS)

evaluate: install
	$(RS) evaluate --checkpoint $(RUN)/best.pt --prepared $(PREPARED) $(EVAL_ARGS)

test: install
	$(BIN)/pytest -q

# re-record tests/golden/bit_identity.json after a change meant to change outputs: this machine's bits,
# then the AVX2 kind's own entries, with torch, OpenBLAS and numpy held to their AVX2 kernels (on an
# AMD AVX512 machine this reproduces an AVX2-only AMD EPYC's bits: every recorded AVX2 hash passed)
AVX2_KERNELS := ATEN_CPU_CAPABILITY=avx2 OPENBLAS_CORETYPE=Zen NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL"
golden: install
	RETAIL_SIM_RECORD=1 $(BIN)/pytest -q tests/test_bit_identity.py
	$(AVX2_KERNELS) RETAIL_SIM_RECORD=cpu $(BIN)/pytest -q tests/test_bit_identity.py
	$(AVX2_KERNELS) $(BIN)/pytest -q tests/test_bit_identity.py

# the wheel in a fresh venv, run outside the repository on two sample weeks (.ci/wheel-check; ~2 min)
wheel-check:
	PYTHON=$(PYTHON) .ci/wheel-check

lint: install
	$(BIN)/ruff check retail_sim tests

# benchmarks print a ratio against a baseline run in the same process; BENCH_RAW is generated once
BENCH_RAW ?= data/bench/raw-10m
BENCH_PREPARED ?= data/bench/prepared-10m
bench: install
	$(RS) bench synth --rows 10000000
	test -f $(BENCH_RAW)/time.csv || $(RS) synth --out $(BENCH_RAW) --customers 16200
	$(RS) bench splits --raw ../shared/data/lgsr-sample
	$(RS) bench splits --raw $(BENCH_RAW)
	test -f $(BENCH_PREPARED)/tensor_cache/manifest.json || \
	  ($(RS) splits --raw $(BENCH_RAW) --out $(BENCH_PREPARED) && $(RS) cache --prepared $(BENCH_PREPARED))
	$(RS) bench loader --prepared $(BENCH_PREPARED)
	$(RS) bench loader --prepared $(BENCH_PREPARED) --full-epoch --workers 0
	$(RS) bench train --prepared $(BENCH_PREPARED) --presets tiny,base --steps 20 --device cpu --cpu-threads 1

clean:
	rm -rf $(VENV) data/synth data/prepared runs .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
