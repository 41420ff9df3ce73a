# Two commands do everything: `make demo` and `make test`. Both create .venv when missing;
# the stamp file makes a second run reinstall nothing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mesa-bench-installed
L2L_STAMP := $(VENV)/.learn2learn-0.2.0
export WANDB_MODE ?= offline

.PHONY: demo test lint setup browser postgres clean

demo: $(STAMP)
	$(VENV)/bin/mesa-bench demo

test: $(STAMP) lint
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

setup: $(STAMP)

# torch 2.14.1 from PyPI is a CUDA build: the venv takes about 6 GB. Say so before pip
# fails half-way with "No space left on device".
NEED_GB := 7
$(VENV)/bin/python:
	@free=$$(df -Pk . | awk 'NR == 2 {print int($$4 / 1048576)}'); \
	if [ "$$free" -lt $(NEED_GB) ]; then \
		echo "mesa-bench set-up: needs about $(NEED_GB) GB free on the disk of $$(pwd), has $$free GB" >&2; \
		exit 1; \
	fi
	$(PYTHON) -m venv $(VENV)

$(L2L_STAMP): $(VENV)/bin/python
	$(PY) -m pip install "torch==2.14.1" "torchvision==0.29.1" "numpy>=2" "cython>=3" setuptools wheel
	bash .ci/install_learn2learn.sh $(PY)
	touch $@

# The Makefile is a prerequisite too: a changed install line reaches venvs made before it.
$(STAMP): pyproject.toml Makefile $(L2L_STAMP)
	$(PY) -m pip install -e ".[dev,postgres]"
	$(PY) -c "import learn2learn"
	touch $@

# Root-installed parts of the test suite (root and apt needed). Where one is missing its
# tests are skipped, naming the target below, except under CI=true, where they fail.
# The leaderboard's browser tests drive Debian's Chromium at /usr/bin/chromium.
browser:
	test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

# The PostgreSQL variants of the store tests connect to PG_TEST_URL (the tests' default; set
# MESA_BENCH_TEST_POSTGRES_URL to use another server). Installs Debian's postgresql, starts
# every cluster that is down, and creates the role and database; each step only when needed.
PG_TEST_URL := postgresql+psycopg://mesa:mesa@127.0.0.1:5432/mesa_bench_test
PG_SQL := runuser -u postgres -- psql -qtA -c
postgres:
	command -v pg_lsclusters >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql)
	pg_lsclusters -h | while read -r version cluster port status rest; do \
		[ "$$status" = online ] || pg_ctlcluster "$$version" "$$cluster" start; \
	done
	$(PG_SQL) "SELECT 1 FROM pg_roles WHERE rolname = 'mesa'" | grep -q 1 || \
		$(PG_SQL) "CREATE ROLE mesa LOGIN PASSWORD 'mesa'"
	$(PG_SQL) "SELECT 1 FROM pg_database WHERE datname = 'mesa_bench_test'" | grep -q 1 || \
		runuser -u postgres -- createdb --owner=mesa mesa_bench_test
	@echo "PostgreSQL for the tests: $(PG_TEST_URL)"

clean:
	rm -rf $(VENV) build .pytest_cache
