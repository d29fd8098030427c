# Two commands do all the set-up on a fresh machine:
#   make lab    create .venv, install the pinned environment, open JupyterLab on the start notebook
#   make test   the same set-up, then every test: unit tests, every notebook run in JupyterLab and compared
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8888
# Jupyter refuses to run as root (as in many containers) unless told that it is intended.
LAB_ARGS ?= $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: lab test lint unit nbval claims site bench bench-notebooks bench-gpu clean distclean

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

# The docs' tools (docs/requirements.txt): the static site and its tests; not a learner's dependency.
DOCS_STAMP := $(VENV)/.installed-docs
$(DOCS_STAMP): $(STAMP) docs/requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r docs/requirements.txt
	touch $(DOCS_STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab --port=$(PORT) $(LAB_ARGS) notebooks/00_start_here.ipynb

# nbval's options: it compares a notebook's outputs with the committed ones. Numbers that vary with the
# CPU, thread count or seed are masked by tests/nbval_sanitize.cfg.
NBVAL := --nbval --nbval-current-env --nbval-cell-timeout=300 --nbval-sanitize-with tests/nbval_sanitize.cfg

# Another machine's run, emulated: another seed on one thread (as on Binder). `make test` gives it to
# JupyterLab's kernels (RESBLOCK_LAB_ENV).
VARIANT := RESBLOCK_SEED=1 OMP_NUM_THREADS=1

# Every notebook runs once, as a learner runs it: in JupyterLab in Chromium, Restart Kernel and Run All,
# every widget driven, every checked claim shown held (✓, no ✗), and its outputs compared with the
# committed ones by nbval's rules (resblock/nbcompare.py), under VARIANT. Two passes, side by side
# where there are two cores (tests/two_passes.py): the unit tests and half the notebooks, and the other
# half with the site's browser tests. Without a browser, nbval runs the notebooks instead (NBVAL).
# `make nbval` runs nbval itself; `make claims` covers more seeds.
test: $(STAMP) $(DOCS_STAMP) lint
	RESBLOCK_LAB_ENV="$(VARIANT)" $(BIN)/python tests/two_passes.py $(NBVAL)

# ruff's checks and its formatter (settings in pyproject.toml; notebooks are left as written).
# `$(BIN)/ruff check --fix . && $(BIN)/ruff format .` fixes what it can.
lint: $(DOCS_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The notebooks alone under nbval (e.g. `RESBLOCK_SEED=1 OMP_NUM_THREADS=1 make nbval`).
nbval: $(STAMP)
	$(BIN)/python -m pytest $(NBVAL) notebooks

# The robustness sweep: every notebook under several seeds, thread counts and arithmetic; writes
# results/claims_sweep.json and .md, or OUT (the AVX-512 record: OUT=results/claims_sweep_avx512.json)
# (long: about 5 minutes per variant on 2 cores).
claims: $(STAMP)
	$(BIN)/python -m resblock.claims_sweep $(if $(OUT),--out $(OUT))

# The executed course as a static site, from the committed notebooks (nothing re-executed):
# open build/site/index.html. tests/test_site.py and tests/browser/test_site_a11y.py build and check it.
site: $(DOCS_STAMP)
	$(BIN)/python docs/site/build.py

bench: $(STAMP)
	$(BIN)/python -m resblock.bench

# Every notebook pinned to one core (as on Binder), then on two: time and peak memory of each, against
# the targets; written to results/bench_notebooks.json (about 6 + 4 minutes a run on 2 cores). One core
# alone: `make bench-notebooks CORES=1`; the median of three runs: `make bench-notebooks REPEAT=3`.
CORES ?= 1 2
REPEAT ?= 1
bench-notebooks: $(STAMP)
	$(BIN)/python -m resblock.bench --repeat $(REPEAT) --only $(foreach c,$(CORES),$(if $(filter 1,$(c)),notebooks_1core,notebooks_$(c)cores))

# Where PyTorch sees a CUDA GPU: the tiny ResNet's times to 0.92 and 0.94 (3 seeds, about 3 minutes) and
# every notebook run there (its "gpu" entry in results/bench_notebooks.json); each says "skipped" elsewhere.
# It needs a CUDA build of torch: PyPI's Linux wheel is one, the CPU wheel of README's "Without make" is not.
bench-gpu: $(STAMP)
	$(BIN)/python -m resblock.bench --only gpu notebooks_gpu

# The edit-test loop: unit tests only (no notebooks, no browser); a minute or two.
unit: $(STAMP)
	$(BIN)/python -m pytest -q --ignore=tests/browser tests

# What the tests and the notebooks write; `make clean` keeps .venv, `make distclean` removes it too.
clean:
	rm -rf artifacts checkpoints notebooks/checkpoints build .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -not -path './.venv/*' -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
