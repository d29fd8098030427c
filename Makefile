# Two commands do all the set-up on a fresh machine:
#   make lab    create .venv, install the pinned environment, open JupyterLab on the start notebook
#   make test   the same set-up, then every test: unit tests, notebooks under nbval, browser tests
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8888
# Jupyter refuses to run as root (as in many containers) unless told that it is intended.
LAB_ARGS ?= $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: lab test bench clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab --port=$(PORT) $(LAB_ARGS) notebooks/00_start_here.ipynb

# nbval re-runs every notebook in notebooks/ and compares its outputs with the committed ones.
test: $(STAMP)
	$(BIN)/python -m pytest --nbval --nbval-current-env --nbval-cell-timeout=300 \
		--durations=15 tests notebooks

bench: $(STAMP)
	$(BIN)/python -m resblock.bench

clean:
	rm -rf $(VENV) .pytest_cache
