# CIP — `make run` serves the demo tenant, `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: run test test-slow check bench migrate browser clean

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

# The browser tests drive Debian's Chromium: Playwright cannot download its own browsers here.
browser:
	@test -x /usr/bin/chromium || { \
		echo "installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	}

test: $(VENV)/.installed-test browser
	$(PY) -m pytest

test-slow: $(VENV)/.installed-test browser
	$(PY) -m pytest -m slow

# The gates: lint, format and types (strict, with the pydantic plugin and asyncpg's stubs).
check: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# Benchmarks against `cip serve` in its own process; prints one table (see README "Performance").
bench: $(VENV)/.installed-test
	$(PY) tests/benchmarks/run.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
