# Two commands set up a fresh machine: `make demo` runs the copilot on the embedded default
# (SQLite + local Chroma + packaged models), `make test` runs the tests. Both install first.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEB_PACKAGES := fonts-wqy-microhei

.PHONY: setup system-deps demo test test-unit check bench doctor clean

setup: system-deps $(STAMP)

# A CJK font so charts can show Chinese names; installed with apt where we are root.
system-deps:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "note: install$$missing (apt) for Chinese text in charts"; fi; \
	fi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip wheel setuptools
	# The CPU build of torch first, so nothing pulls CUDA packages.
	$(BIN)/pip install -q torch==2.13.0
	# llama-cpp-python compiles llama.cpp here (~7 min on 2 cores; pip caches the wheel).
	$(BIN)/pip install -q -e '.[test,postgres]'
	touch $(STAMP)

demo: setup
	$(BIN)/copilot demo

test: setup
	$(BIN)/python -m pytest -q -p no:cacheprovider

test-unit: setup
	$(BIN)/python -m pytest -q tests/unit

# Static checks: lint and format (ruff), types (mypy), and the layers contract (import-linter).
check: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

doctor: setup
	$(BIN)/copilot doctor

bench: setup
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script; done

clean:
	rm -rf $(VENV) .copilot
