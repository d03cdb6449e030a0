# The two commands: `make run` (the app on SQLite with demo data) and `make test` (every test).
# Each creates the virtual environment and installs what is missing first.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
PORT ?= 8501

.PHONY: run test test-fast install lint clean bench bench-web

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (found " + sys.version.split()[0] + ")")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

run: $(INSTALLED)
	$(BIN)/python -m portal db upgrade
	$(BIN)/python -m portal seed-demo --if-empty
	@$(BIN)/python -m portal demo-logins || true
	$(BIN)/streamlit run portal/ui/server.py --server.port $(PORT)

TEST_WORKERS ?= 2

test: $(INSTALLED)
	@sh scripts/ensure-postgres.sh
	@sh scripts/ensure-chromium.sh
	@sh scripts/ensure-haproxy.sh
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist load $(PYTEST_ARGS)

# The edit loop: the service tests on SQLite only, by marker (pyproject.toml) — no browser,
# no PostgreSQL, no pages, no servers or benchmarks started in other processes.
test-fast: $(INSTALLED)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) -m "not (browser or postgresql or server or slow)" \
		$(PYTEST_ARGS)

# Benchmarks against the floor, on the database DATABASE_URL names, which must hold a
# generated program: python -m portal generate --partners 10000 --leads 1000000
bench: $(INSTALLED)
	$(BIN)/python bench/bench.py $(BENCH_ARGS)

# The web tier under load: partners acting through Streamlit's websocket protocol against app
# processes started here, then the same against the web floor; DATABASE_URL as for `bench`.
bench-web: $(INSTALLED)
	$(BIN)/python bench/web_load.py $(BENCH_WEB_ARGS)

# ruff, then the strict type check of portal/, pages/ and Home.py (pyproject.toml); any finding fails.
lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .ruff_cache .mypy_cache
