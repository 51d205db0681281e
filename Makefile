# DriftDB developer commands. Every target creates .venv by itself from PyPI.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
N ?= 200

.PHONY: help venv compile test test-deep mutants lint fmt ci build demo bench crashtest reliability clean

help:
	@echo "make test | test-deep | mutants | lint | fmt | ci | build | demo | bench | crashtest N=200 | reliability"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Byte-compile the sources: with PYTHONDONTWRITEBYTECODE set (as on CI) every cold start of
# `driftdb` would otherwise recompile every module, which costs more than the query.
compile: $(STAMP)
	@$(BIN)/python -m compileall -q src

venv: $(STAMP)

test: $(STAMP)
	$(BIN)/pytest -q

# The thorough run: every property suite draws 25x its examples (at least 2,000) and the fuzzers
# 20,000 inputs. Run before each release and whenever storage, index or recovery code changes.
test-deep: $(STAMP)
	DRIFTDB_TEST_DEPTH=deep DRIFTDB_FUZZ_EXAMPLES=20000 $(BIN)/pytest -q --timeout=3600

# Apply each slip in tests/mutants.toml and check that its tests catch it (see tests/MUTANTS.md).
mutants: $(STAMP)
	$(BIN)/python scripts/mutants.py

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

ci: lint test

build: $(STAMP)
	$(BIN)/python -m build --wheel --outdir dist .

clean:
	rm -rf $(VENV) dist build demo-data .pytest_cache .mypy_cache .ruff_cache

demo: compile
	$(BIN)/python scripts/demo.py

crashtest: $(STAMP)
	DRIFTDB_CRASH_POINTS=$(N) $(BIN)/pytest tests/crash -q

reliability: $(STAMP)
	$(BIN)/python scripts/reliability.py --crash-points $(N)

# Benchmarks against SQLite (several minutes at 1M events): results in benchmarks/results/.
EVENTS ?= 100000 1000000
bench: compile
	$(BIN)/python benchmarks/run.py --events $(EVENTS) --out benchmarks/results
