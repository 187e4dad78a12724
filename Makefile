# omnibill: `make run` for a full demo billing run, `make test` for the whole suite.
# Both create .venv in the repo and install into it when it is missing or pyproject.toml changed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TENANT ?= demo
PERIOD ?= $(shell date +%Y-%m)
CUSTOMERS ?= 10000
EXTRACT ?= var/extracts/$(TENANT)-$(PERIOD)

export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export DO_NOT_TRACK ?= 1

.PHONY: install run test bench sandbox clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "omnibill needs Python 3.11 or newer (set PYTHON=python3.11)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install omnibill with its test tools

run: install ## Make a demo extract of $(CUSTOMERS) customers and run the monthly flow for $(TENANT) $(PERIOD)
	$(BIN)/omnibill demo-data --customers $(CUSTOMERS) --period $(PERIOD) --out $(EXTRACT)
	$(BIN)/omnibill run --tenant $(TENANT) --period $(PERIOD) --source $(EXTRACT)

test: install ## Run the whole test suite (unit, adapters, integration on SQLite and PostgreSQL, flows)
	$(BIN)/python -m pytest

bench: install ## Benchmark a run end to end: documents/s per stage and peak memory
	$(BIN)/python -m omnibill.bench --customers $(CUSTOMERS)

sandbox: install ## Run the local sandbox providers in the foreground
	$(BIN)/omnibill sandbox

clean: ## Remove the ledger, documents, drops and sandbox data (var/)
	rm -rf var
