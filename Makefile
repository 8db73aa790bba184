# Two commands set up everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test quick lint typecheck bench plans clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ps2moodle demo

test: $(STAMP) lint typecheck
	$(BIN)/python -m pytest

# The edit-test loop: the suite without the tests marked slow (no lint, no types).
quick: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check reconciler ps2moodle_testkit tests
	$(BIN)/ruff format --check reconciler ps2moodle_testkit tests

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m ps2moodle_testkit.bench

plans: $(STAMP)
	$(BIN)/python -m ps2moodle_testkit.demo.example_plans

clean:
	rm -rf $(VENV) build *.egg-info
