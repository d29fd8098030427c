# Two commands do all the set-up on a fresh machine:
#   make lab    create .venv, install the pinned environment, open JupyterLab on the start notebook
#   make test   the same set-up, then every test: unit tests, notebooks under nbval, browser tests
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8888

.PHONY: lab test bench clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab --port=$(PORT) notebooks/00_start_here.ipynb

# nbval re-runs every notebook in notebooks/ and compares its outputs with the committed ones.
test: $(STAMP)
	$(BIN)/python -m pytest --nbval --nbval-current-env --nbval-cell-timeout=300 \
		--durations=15 tests notebooks

bench: $(STAMP)
	$(BIN)/python -m resblock.bench

clean:
	rm -rf $(VENV) .pytest_cache
