# CIP — `make run` serves the demo tenant, `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: run test test-slow check bench migrate tools lock vendor clean screenshots

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

# What the tests run besides Python, from Debian's packages when missing: Chromium for the
# browser tests (Playwright cannot download its own browsers here) and nginx, the reverse
# proxy in front of several instances (tests/test_scale_out.py).
tools:
	@missing=""; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	test -x /usr/sbin/nginx || missing="$$missing nginx"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian's$$missing for the tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

test: $(VENV)/.installed-test tools
	$(PY) -m pytest

test-slow: $(VENV)/.installed-test tools
	$(PY) -m pytest -m slow

# The pages as a visitor sees them (desktop and phone, mid-stream and finished, the widget on
# a site, a branded tenant in dark mode), as PNGs under var/screenshots/ (CIP_SCREENSHOT_DIR).
screenshots: $(VENV)/.installed-test tools
	$(PY) -m pytest tests/screenshots.py

# The gates: lint, format and types (strict, with the pydantic plugin and asyncpg's stubs).
check: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# Benchmarks against `cip serve` in its own process; prints one table (see README "Performance").
# BENCH_ARGS="--only cabinet-dos" runs one suite (repeat --only for more; --help lists them).
BENCH_ARGS ?=
bench: $(VENV)/.installed-test
	$(PY) tests/benchmarks/run.py $(BENCH_ARGS)

# requirements.lock: the runtime dependencies (and the build backend) pinned for the image,
# Python 3.11 on Linux, every file with its hash. Resolved from PyPI alone (local pip settings
# ignored) in its own venv under var/. Existing pins are kept; `make lock LOCK_ARGS=--upgrade`
# moves every package to its newest release within setup.py's ranges.
LOCK_PYTHON ?= python3.11
LOCK_VENV   := var/lock-venv
LOCK_ARGS   ?=

$(LOCK_VENV)/.installed:
	$(LOCK_PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet --disable-pip-version-check pip-tools==7.6.2
	touch $@

lock: $(LOCK_VENV)/.installed
	env -u PIP_FIND_LINKS -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL PIP_CONFIG_FILE=/dev/null \
	$(LOCK_VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --all-build-deps \
		--strip-extras --no-emit-index-url --no-emit-find-links $(LOCK_ARGS) \
		--output-file requirements.lock setup.py

# static/vendor/: the browser bundle of markdown-it (the chat page's renderer of answers while
# they stream), fetched from the npm registry at the pinned version by npm (which checks the
# package against the registry's integrity hash), then checked against static/vendor/SHA256SUMS
# (tests/test_supply_chain.py checks the committed files against it too). A new version: change
# the pin, run `make vendor VENDOR_CHECK=`, review, then write the new sums.
MARKDOWN_IT  ?= 14.3.3
VENDOR_TMP   := var/vendor
VENDOR_CHECK ?= sha256sum --check --strict SHA256SUMS

vendor:
	rm -rf $(VENDOR_TMP) && mkdir -p $(VENDOR_TMP)
	cd $(VENDOR_TMP) && npm pack --silent markdown-it@$(MARKDOWN_IT) >/dev/null
	tar -xzf $(VENDOR_TMP)/markdown-it-$(MARKDOWN_IT).tgz -C $(VENDOR_TMP)
	cp $(VENDOR_TMP)/package/dist/markdown-it.min.js $(VENDOR_TMP)/package/LICENSE static/vendor/markdown-it/
	cd static/vendor && $(VENDOR_CHECK)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
