# The two commands: `make run` and `make test`. Everything else is a helper for them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format migrations-check venv clean bench

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/clientbase migrate --no-input
	$(BIN)/clientbase createadmin --if-none
	$(BIN)/clientbase demo --if-empty --customers 2000 --orders 6000
	$(BIN)/clientbase serve

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

migrations-check: $(STAMP)
	CLIENTBASE_DATA_DIR=$$(mktemp -d) $(BIN)/clientbase makemigrations --check --dry-run

test: lint migrations-check
	CLIENTBASE_TESTING=1 CLIENTBASE_DATA_DIR=var/test $(BIN)/pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/customer_list.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
