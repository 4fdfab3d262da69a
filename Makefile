# `make demo` and `make test` work from a fresh clone with only Python 3.11:
# both create .venv and install the pinned dependencies into it first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PIP_FLAGS ?= --quiet --disable-pip-version-check

.PHONY: install demo test test-all lint format bench clean

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_FLAGS) -c requirements.lock -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/ghnq-tf demo

# Two pytest workers (pytest-xdist), one per core of the 2-core machines the
# suite is sized for; each test file runs on one worker. TEST_WORKERS=0 runs
# the suite in this process.
TEST_WORKERS ?= 2
TEST_FLAGS = -q -n $(TEST_WORKERS) --dist loadfile

test: $(STAMP)
	$(BIN)/python -m pytest $(TEST_FLAGS) -m "not slow"

test-all: $(STAMP)
	$(BIN)/python -m pytest $(TEST_FLAGS)

lint: $(STAMP)
	$(BIN)/ruff check ghnq_tf tests benchmarks research examples
	$(BIN)/ruff format --check ghnq_tf tests benchmarks research examples

format: $(STAMP)
	$(BIN)/ruff format ghnq_tf tests benchmarks research examples
	$(BIN)/ruff check --fix ghnq_tf tests benchmarks research examples

# The product benchmarks only (research/ holds one-off investigations);
# `_common.py` is their shared helper, not a benchmark.
bench: $(STAMP)
	for script in benchmarks/[!_]*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
