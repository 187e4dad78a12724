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

.PHONY: install fonts browser run test bench sandbox server serve portal clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "omnibill needs Python 3.11 or newer (set PYTHON=python3.11)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@$(MAKE) --no-print-directory fonts
	@$(MAKE) --no-print-directory browser
	touch $(STAMP)

# Fonts for names in every script (Nordic, Arabic, CJK) in the PDFs, and the sRGB profile of the PDF/A archive.
# Debian packages; best effort: without them PDFs fall back to the Latin font shipped with ReportLab and the
# CJK tests skip, and the archive embeds an sRGB profile made by Pillow's LittleCMS instead.
FONT_PACKAGES := fonts-dejavu-core fonts-droid-fallback fonts-nanum icc-profiles-free
fonts:
	@if [ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] && \
	   [ -f /usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf ] && \
	   [ -f /usr/share/fonts/truetype/nanum/NanumGothic.ttf ] && [ -f /usr/share/color/icc/sRGB.icc ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing fonts: $(FONT_PACKAGES)"; \
	  (apt-get install -y -qq $(FONT_PACKAGES) >/dev/null 2>&1 || \
	   (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq $(FONT_PACKAGES) >/dev/null 2>&1)) || \
	  echo "warning: could not install $(FONT_PACKAGES); PDFs will cover Latin scripts only"; \
	else echo "note: install $(FONT_PACKAGES) for Arabic and CJK names in PDFs"; fi

# Debian's Chromium for the portal's browser tests (Playwright drives it; its own browsers are never
# downloaded). Best effort: without it tests/portal/test_portal_browser.py skips (fails when CI is set).
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing chromium for the portal's browser tests"; \
	  (apt-get install -y -qq chromium >/dev/null 2>&1 || \
	   (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1)) || \
	  echo "warning: could not install chromium; the portal's browser tests will skip"; \
	else echo "note: install Debian's chromium (apt-get install chromium) for the portal's browser tests"; fi

install: $(STAMP) ## Create .venv and install omnibill with its test tools

run: install ## Make a demo extract of $(CUSTOMERS) customers and run the monthly flow for $(TENANT) $(PERIOD)
	$(BIN)/omnibill db upgrade
	$(BIN)/omnibill demo-data --customers $(CUSTOMERS) --period $(PERIOD) --out $(EXTRACT)
	$(BIN)/omnibill run --tenant $(TENANT) --period $(PERIOD) --source $(EXTRACT)

TEST_WORKERS ?= 2
test: install ## Run the whole test suite (unit, adapters, integration on SQLite and PostgreSQL, flows) in $(TEST_WORKERS) processes
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

bench: install ## Benchmark a run: docs/s per stage and end to end, stage overlap, Prefect overhead, peak memory per process (BENCH_ARGS="--database postgresql")
	$(BIN)/python -m bench.run --customers $(CUSTOMERS) $(BENCH_ARGS)

portal: install ## Serve the recipients' portal on 127.0.0.1:8030 (links in the demo's e-mails and SMS open here)
	$(BIN)/omnibill portal

sandbox: install ## Run the local sandbox providers in the foreground
	$(BIN)/omnibill sandbox

server: install ## Start a local Prefect server and UI on 127.0.0.1:4200 (telemetry off)
	$(BIN)/omnibill server

serve: install ## Serve the scheduled deployments (monthly run per tenant, rerun) from this process
	PREFECT_API_URL=$${PREFECT_API_URL:-http://127.0.0.1:4200/api} $(BIN)/omnibill serve

clean: ## Remove the ledger, documents, drops and sandbox data (var/)
	rm -rf var
