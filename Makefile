# Everything installs itself into .venv on first use: `make test` and `make demo` work on a
# fresh machine with Python 3.11+ and access to PyPI.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install test lint demo reliability clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@# python-hcl2 writes its parser cache on first use; warm it once here.
	$(BIN)/python -c "import hcl2; hcl2.loads('a = 1')"
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check ftctl tests examples
	$(BIN)/ruff format --check ftctl tests examples
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

# The whole reliability campaign (tests/reliability, every case), written up in
# docs/reliability.md. `make test` runs one case of each kind.
reliability: $(STAMP)
	FTCTL_RELIABILITY_REPORT=docs/reliability.md $(BIN)/python -m pytest tests/reliability --campaign -q

demo: $(STAMP)
	$(BIN)/python examples/demo.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
