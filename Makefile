# The two commands a new user needs: `make run` and `make test`. Everything else is optional.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DB ?= $(or $(ROUTINE_DESK_DB),var/routine-desk.duckdb)
HOST ?= 127.0.0.1
PORT ?= 8501

.PHONY: run test install install-dev chromium postgresql bench load eval-articles init demo clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Stamp files: reinstall only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

## run: install, create or migrate the database (demo practice on the first launch), serve the app
run: install
	@if [ -e "$(DB)" ]; then \
		$(PY) -m core.commands.cli init --db "$(DB)"; \
	else \
		echo "First launch: creating $(DB) with the library and a demo practice"; \
		$(PY) -m core.commands.cli init --db "$(DB)" --demo; \
	fi
	ROUTINE_DESK_DB="$(DB)" $(PY) -m streamlit run app.py --server.address $(HOST) --server.port $(PORT)

## chromium: Debian's Chromium for the browser tests (Playwright's own download does not work offline)
chromium:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		echo "Installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	elif [ -n "$$CI" ]; then \
		echo "chromium is missing and this CI run is not root: cannot install it" >&2; exit 1; \
	fi

## postgresql: Debian's PostgreSQL binaries for the PostgreSQL store tests. The tests start their own
## throwaway server (tests/postgres_server.py), so the package's usual "main" cluster is not created.
postgresql:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		echo "Installing Debian's postgresql for the PostgreSQL store tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-common >/dev/null \
		&& sed -ri 's/^#?\s*create_main_cluster\b.*/create_main_cluster = false/' /etc/postgresql-common/createcluster.conf \
		&& DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	elif [ -n "$$CI" ]; then \
		echo "postgresql is missing and this CI run is not root: cannot install it" >&2; exit 1; \
	else \
		echo "NOTE: PostgreSQL is missing and we are not root: the PostgreSQL store tests are skipped."; \
		echo "      Install it with: sudo apt-get install postgresql"; \
	fi

## test: install test dependencies (chromium, postgresql), run the whole suite
test: install-dev chromium postgresql
	@if [ -x /usr/bin/chromium ]; then \
		$(PY) -m pytest; \
	else \
		echo "NOTE: /usr/bin/chromium is missing and we are not root: skipping the browser tests (tests/e2e)."; \
		echo "      Install it with: sudo apt-get install chromium"; \
		$(PY) -m pytest -m "not browser"; \
	fi

## bench: chain-sized practice (cached under var/), benchmark scenarios, table + var/bench.json
bench: install-dev
	$(PY) tests/bench/bench.py

## eval-articles: score the article reader on tests/fixtures/articles (recall, doses right, precision)
eval-articles: install-dev
	$(PY) -m core.library.article_eval $(if $(VERBOSE),--verbose) $(if $(SET),--set $(SET))

## load: N concurrent staff sessions at the websocket level against one server, or LOAD_SERVERS servers
## on a throwaway PostgreSQL (not part of make test)
SESSIONS ?= 20
LOAD_SECONDS ?= 120
load: install-dev
	$(PY) tests/load/load.py --sessions $(SESSIONS) --seconds $(LOAD_SECONDS) $(if $(LOAD_DB),--db "$(LOAD_DB)") \
		$(if $(LOAD_SERVERS),--postgres --servers $(LOAD_SERVERS))

clean:
	rm -rf $(VENV) var/*.duckdb var/*.wal var/bench
