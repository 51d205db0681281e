# DriftDB developer commands. Every target creates .venv by itself from PyPI.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
N ?= 200

.PHONY: help venv compile test test-deep mutants lint clippy typecheck-tests layers fmt ci build docs demo bench crashtest reliability clean

help:
	@echo "make test | test-deep | mutants | lint (alias: clippy) | fmt | ci | build | demo | bench | crashtest N=200 | reliability"

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

# One worker per core (pytest-xdist): the suite is CPU-bound and its tests are independent (each
# in its own tmp_path), so on 2 cores it takes about half the time of a serial run.
test: $(STAMP)
	$(BIN)/pytest -q -n auto

# The thorough run: every property suite draws 25x its examples (at least 2,000) and the fuzzers
# 20,000 inputs. Run before each release and whenever storage, index or recovery code changes.
test-deep: $(STAMP)
	DRIFTDB_TEST_DEPTH=deep DRIFTDB_FUZZ_EXAMPLES=20000 $(BIN)/pytest -q -n auto --timeout=3600

# Apply each slip in tests/mutants.toml and check that its tests catch it (see tests/MUTANTS.md).
mutants: $(STAMP)
	$(BIN)/python scripts/mutants.py

# lint: ruff (with the complexity rule), ruff format, mypy --strict over src, mypy over the
# tests, and the layering check (imports point down, no cycle; scripts/check_layers.py).
lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/mypy
	$(MAKE) --no-print-directory typecheck-tests layers

# The upstream README names `make clippy`; here it is the same as `make lint`.
clippy: lint

# Each test directory has its own conftest.py and support modules, imported by bare name as
# pytest does: mypy checks one directory at a time, with every test directory on its path.
TEST_DIRS := tests $(patsubst %/,%,$(sort $(dir $(wildcard tests/*/*.py))))
TEST_PATH := src:$(subst $(eval) ,:,$(TEST_DIRS))
typecheck-tests: $(STAMP)
	@set -e; for d in $(TEST_DIRS); do \
		MYPYPATH=$(TEST_PATH) $(BIN)/mypy --config-file tests/mypy.ini $$d/*.py; \
	done

layers: $(STAMP)
	$(BIN)/python scripts/check_layers.py

fmt: $(STAMP)
	$(BIN)/ruff format src tests benchmarks scripts
	$(BIN)/ruff check --fix src tests benchmarks scripts

ci: lint test

build: $(STAMP)
	$(BIN)/python -m build --wheel --outdir dist .

# The docs site (MkDocs, from docs/ and mkdocs.yml) in build/site; any warning is an error.
docs: $(STAMP)
	$(BIN)/mkdocs build --strict --quiet

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
