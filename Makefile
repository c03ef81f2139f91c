# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEVCLOUD := $(PYTHON) -m tools.devcloud

.PHONY: venv lint unit test cloud-up cloud-down cloud-status demo bench docs clean

$(BIN)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

venv: $(BIN)/.installed

lint: venv
	$(BIN)/ruff check glancesync test tools bench
	$(BIN)/ruff format --check glancesync test tools bench
	$(BIN)/mypy

unit: venv
	$(BIN)/pytest -q test/unit

cloud-up:
	$(DEVCLOUD) up

cloud-down:
	$(DEVCLOUD) down

cloud-status:
	$(DEVCLOUD) status

# Every test: lint, unit tests, docs, then the integration and end-to-end
# tests against real Keystone and Glance servers (started if needed).
# pytest exits 5 when it collected nothing: that is a failure too.
test: venv lint cloud-up
	$(BIN)/pytest -q; status=$$?; \
	  if [ $$status -eq 5 ]; then echo "no test was run" >&2; exit 1; fi; exit $$status

demo: venv cloud-up
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python tools/demo.py

# The benchmark's smoke run (doc/performance.rst; the full run: .venv/bin/python -m bench).
bench: venv cloud-up
	$(BIN)/python -m bench --quick

docs: venv
	$(BIN)/sphinx-build -W -q -b html doc doc/_build/html

clean:
	rm -rf $(VENV) doc/_build .pytest_cache .mypy_cache .ruff_cache
