# The two commands: `make run` and `make test`. Everything else is a helper for them.
#
# Only Python 3.11+ is needed beforehand: the first call creates .venv and installs the
# project into it; later calls reuse it until pyproject.toml changes.

# The first interpreter on PATH that is Python 3.11 or newer (override: make PYTHON=...).
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	2>/dev/null && echo $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format migrations-check venv clean bench schema

$(STAMP): pyproject.toml
	@if [ ! -x $(BIN)/python ]; then \
		if [ -z "$(PYTHON)" ]; then \
			echo "clientbase needs Python 3.11 or newer (python3.11, python3.12 ...) on PATH." >&2; \
			exit 1; \
		fi; \
		echo "Creating $(VENV) with $(PYTHON)"; \
		$(PYTHON) -m venv $(VENV) || { \
			echo "Could not create $(VENV). On Debian/Ubuntu: apt-get install python3-venv" >&2; \
			rm -rf $(VENV); exit 1; }; \
	fi
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/clientbase migrate --no-input
	$(BIN)/clientbase createadmin --if-none
	$(BIN)/clientbase demo --if-empty --customers 2000 --orders 6000
	@# Scores (RFM, importance) from the start; the worker refreshes them nightly after that.
	$(BIN)/clientbase analytics refresh
	$(BIN)/clientbase serve

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	env -u DATABASE_URL CLIENTBASE_DATA_DIR=$$(mktemp -d) $(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

# Without DATABASE_URL: the check compares models with migration files, no server needed.
migrations-check: $(STAMP)
	env -u DATABASE_URL CLIENTBASE_DATA_DIR=$$(mktemp -d) \
		$(BIN)/clientbase makemigrations --check --dry-run

test: lint migrations-check
	CLIENTBASE_TESTING=1 CLIENTBASE_DATA_DIR=var/test $(BIN)/pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/customer_list.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

# The committed OpenAPI schema (docs/openapi.yaml); tests/api/test_schema.py fails when it drifts.
schema: $(STAMP)
	env -u DATABASE_URL CLIENTBASE_DATA_DIR=$$(mktemp -d) \
		$(BIN)/clientbase spectacular --validate --fail-on-warn --lang en --file docs/openapi.yaml
