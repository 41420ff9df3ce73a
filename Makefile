# Two commands do everything: `make demo` and `make test`. Both create .venv when missing;
# the stamp file makes a second run reinstall nothing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mesa-bench-installed
L2L_STAMP := $(VENV)/.learn2learn-0.2.0
export WANDB_MODE ?= offline

.PHONY: demo test lint setup browser clean

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

$(STAMP): pyproject.toml $(L2L_STAMP)
	$(PY) -m pip install -e ".[dev]"
	$(PY) -c "import learn2learn"
	touch $@

# The leaderboard's browser test drives Debian's Chromium (root and apt needed; the test
# is skipped where it is missing, except in CI).
browser:
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

clean:
	rm -rf $(VENV) build .pytest_cache
