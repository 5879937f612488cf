# CIP — `make run` serves the demo tenant, `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: run test test-slow bench migrate clean

$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed setup.py
	$(PIP) -e '.[test]'
	touch $@

run: $(VENV)/.installed
	$(VENV)/bin/cip serve

migrate: $(VENV)/.installed
	$(VENV)/bin/cip migrate

test: $(VENV)/.installed-test
	$(PY) -m pytest

test-slow: $(VENV)/.installed-test
	$(PY) -m pytest -m slow

# Benchmarks against `cip serve` in its own process; prints one table (see README "Performance").
bench: $(VENV)/.installed-test
	$(PY) tests/benchmarks/run.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
