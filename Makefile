# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 5000

.PHONY: run test lint format clean bench bench-day simulate

# Runtime install (no dev extra); re-run when pyproject.toml changes.
$(VENV)/.installed-run: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (set PYTHON=...)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# Development install: runtime plus pytest, ruff and mypy.
$(VENV)/.installed-dev: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (set PYTHON=...)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed-run

## run: create .venv, install, start the gateway on the embedded SQLite default
run: $(VENV)/.installed-run
	$(BIN)/sms-gateway serve --host $(HOST) --port $(PORT)

## test: create .venv with the dev extra, run ruff, mypy (files in pyproject.toml) and pytest
test: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

## format: apply ruff's formatter and safe fixes
format: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## bench: the flash-crowd benchmark (bench/flash_crowd.py), e.g. BENCH_ARGS="--requests 2000 --sqlite"
bench: $(VENV)/.installed-dev
	$(BIN)/python bench/flash_crowd.py $(BENCH_ARGS)

## bench-day: the busy-day benchmark (bench/busy_day.py), e.g. BENCH_ARGS="--requests 2000 --sqlite"
bench-day: $(VENV)/.installed-dev
	$(BIN)/python bench/busy_day.py $(BENCH_ARGS)

## simulate: a month of applicants, ghosts and scalpers against the real gateway, e.g. SIM_ARGS="--seed 7"
simulate: $(VENV)/.installed-dev
	$(BIN)/python bench/simulate_month.py $(SIM_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .mypy_cache
