# assocflow: `make run` brings up the whole local stack, `make test` runs the suite.
# Both create .venv and install everything from PyPI on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Each run keeps its temporary files (PostgreSQL data dirs among them) in a directory of its own,
# removed afterwards: pytest's shared /tmp/pytest-of-<user> keeps only the newest three runs, so
# another run on the same machine would delete a running suite's databases.
PYTEST = tmp=$$(mktemp -d "$${TMPDIR:-/tmp}/assocflow-test.XXXXXX") \
  && { $(PY) -m pytest --basetemp="$$tmp/pytest"
PYTEST_END = ; rc=$$?; rm -rf "$$tmp"; exit $$rc; }

.PHONY: run test browser-tests lint install reset compose-tool chromium histories openapi-snapshot proof bench catalogues translations

# The first run says what it is doing: pip prints each package as it fetches and installs it.
# A new top-level package (its __init__.py) is installed again too: the editable install maps
# the packages it found.
$(STAMP): pyproject.toml $(wildcard */__init__.py)
	@echo "assocflow: installing into $(VENV) (first run, or pyproject.toml changed; about a minute)…"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --progress-bar off -e '.[dev]'
	touch $(STAMP)
	@echo "assocflow: installed."

install: $(STAMP) catalogues

# The words in English and Simplified Chinese (assocflow/i18n.py): the .po files are the source,
# compiled here into the .mo files the processes read (never committed).
PO_FILES := $(wildcard assocflow/locale/*/LC_MESSAGES/*.po)
catalogues: $(PO_FILES:.po=.mo)

assocflow/locale/%.mo: assocflow/locale/%.po $(STAMP)
	$(VENV)/bin/pybabel -q compile --statistics -i $< -o $@

# After changing words: extract them again and bring the catalogues up to date (then translate
# what `make test` says is missing).
translations: $(STAMP)
	for domain in console assocflow; do \
	  $(VENV)/bin/pybabel -q extract -F babel-$$domain.cfg -k Text -k N_ --no-location \
	    --sort-output --project=assocflow --copyright-holder=assocflow \
	    -o assocflow/locale/$$domain.pot . \
	  && $(VENV)/bin/pybabel -q update -i assocflow/locale/$$domain.pot -d assocflow/locale \
	    -D $$domain --no-fuzzy-matching --ignore-obsolete || exit 1; \
	done

run: $(STAMP) catalogues
	$(PY) -m devstack run

test: $(STAMP) catalogues compose-tool chromium
	$(VENV)/bin/ruff check --quiet .
	$(VENV)/bin/ruff format --check --quiet .
	$(VENV)/bin/mypy
	$(PYTEST) $(PYTEST_ARGS) $(PYTEST_END)

# The console's browser tests alone (they are part of `make test` too).
browser-tests: $(STAMP) catalogues chromium
	$(PYTEST) tests/console $(PYTEST_ARGS) $(PYTEST_END)

# The compose file is checked with `docker-compose config` (no Docker engine needed): install
# Debian's docker-compose where we may; elsewhere the check says it was skipped and why.
compose-tool:
	@command -v docker-compose >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && { apt-get install -y -qq docker-compose >/dev/null 2>&1 \
	       || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq docker-compose >/dev/null 2>&1; }; }; } \
	  || echo "docker-compose is not installed: the compose file check will be skipped"

# The console's browser tests drive Debian's chromium with Playwright (Playwright's own browser
# download is never used), with Debian's Noto CJK fonts for the Chinese pages and their pictures:
# install them where we may; elsewhere they say they were skipped and why.
# ASSOCFLOW_CHROMIUM names another Chromium binary.
BROWSER_PACKAGES = chromium fonts-noto-cjk
chromium:
	@{ [ -x "$${ASSOCFLOW_CHROMIUM:-/usr/bin/chromium}" ] && [ -n "$$(fc-list :lang=zh 2>/dev/null)" ]; } \
	  || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && { apt-get install -y -qq $(BROWSER_PACKAGES) >/dev/null 2>&1 \
	       || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq $(BROWSER_PACKAGES) >/dev/null 2>&1; }; }; } \
	  || echo "chromium is not installed (needs root and apt-get): the console's browser tests will be skipped"

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The reliability runs alone (they are part of `make test` too); figures in build/.
proof: $(STAMP)
	rm -f build/reliability-figures.jsonl
	$(PYTEST) -q tests/reliability tests/workflows/test_replay.py $(PYTEST_END)
	$(PY) -m tests.reliability.report

# The benchmarks (docs/PERFORMANCE.md), each on a fresh local stack; sizes via BENCH_ARGS, e.g.
#   make bench BENCH_ARGS="--lifecycles 500 --pending-requests 20000 --records-rows 2000000"
# The charts go to docs/performance/, the figures to build/bench/ and then docs/bench/.
bench: $(STAMP)
	$(PY) -m bench all $(BENCH_ARGS)
	cp build/bench/*.json docs/bench/

# Record the workflow histories the replay test checks (after an intended workflow change).
histories: $(STAMP)
	ASSOCFLOW_RECORD_HISTORIES=1 $(PY) -m pytest -q tests/workflows/test_replay.py tests/workflows/test_contract.py -k test_record_

# Take a new snapshot of the v1 API surface (after an intended, compatible change to the API).
openapi-snapshot: $(STAMP)
	ASSOCFLOW_RECORD_OPENAPI=1 $(PY) -m pytest -q tests/api/test_openapi_v1.py -k test_record_

# Forget the local stack's data (PostgreSQL, Temporal state, demo tokens).
reset:
	rm -rf .data
