# schedkit developer tasks. `make test` is the one command CI runs (through .ci/run).
#
#   make install     create .venv and install schedkit with its test extras (editable)
#   make bytecode    compile src/ and examples/ (demo and test do it first)
#   make lint        ruff check + ruff format --check
#   make typecheck   mypy (strict; configured in pyproject.toml)
#   make test        lint, typecheck, then pytest with the coverage floor (pyproject.toml);
#                    make test PYTEST_ARGS='-k cron -x'   (PYTEST_WORKERS=0: one process)
#   make services    install/start PostgreSQL, FerretDB, Redis, Chromium (scripts/services.sh)
#   make demo        run the demo through the schedkit CLI;  make demo PORT=8080 HOST=0.0.0.0
#   make screenshots regenerate docs/screenshots/ (the console in Chromium, both languages)
#   make bench       run the benchmarks (python -m bench)
#   make clean       remove caches and build artefacts (`make distclean` also removes .venv)
#
# See docs/development.md.

PYTHON      ?= python3
VENV        := .venv
BIN         := $(VENV)/bin
# Touched after a successful install; pyproject.toml being newer means "re-install".
STAMP       := $(VENV)/.install-stamp
PYTEST_ARGS ?=
# pytest-xdist workers (tests/conftest.py keeps the multi-process tests in one of them).
# Three on two cores: that worker waits on its processes half of the time (measured:
# 442 s of CPU in 957 s), so a third keeps both cores busy.
# make test PYTEST_WORKERS=0 runs everything in one process.
PYTEST_WORKERS ?= 3
# Where `make demo` serves the console and API.
HOST        ?= 127.0.0.1
PORT        ?= 8000

.DEFAULT_GOAL := test
.PHONY: install bytecode lint typecheck test services demo screenshots bench clean distclean

install: $(STAMP)

$(STAMP): pyproject.toml
	@# (Re)create the venv when it is missing or its interpreter no longer runs.
	@$(BIN)/python -c '' 2>/dev/null || { \
		echo "creating $(VENV) with $(PYTHON)"; \
		rm -rf $(VENV); \
		$(PYTHON) -m venv $(VENV) || { \
			echo "'$(PYTHON) -m venv' failed; on Debian: apt-get install python3-venv" >&2; \
			exit 1; }; }
	@echo "installing schedkit and its test dependencies into $(VENV) (a minute or two the first time)"
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --progress-bar on -e '.[test]'
	touch $@

# pip compiles what it installs, but not an editable install's sources: they compile at
# each import, and are never cached where PYTHONDONTWRITEBYTECODE is set (it is on our CI
# machine). Every `schedkit` command then spent 0.3-0.5 s compiling ~200 modules; the
# tests start hundreds of such processes. compileall writes the caches whatever that
# variable says, and only recompiles files changed since.
bytecode: install
	@$(BIN)/python -m compileall -q src examples >/dev/null

lint: install
	$(BIN)/ruff check
	$(BIN)/ruff format --check

typecheck: install
	$(BIN)/mypy

test: lint typecheck bytecode
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup --cov --cov-report=term $(PYTEST_ARGS)

services:
	bash scripts/services.sh start
	@echo 'services are up; to point the tests at them run:  eval "$$(scripts/services.sh env)"'

demo: install bytecode
	$(BIN)/schedkit demo --host $(HOST) --port $(PORT)

screenshots: install
	bash scripts/services.sh chromium
	$(BIN)/python scripts/screenshots.py docs/screenshots

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf build dist .pytest_cache .mypy_cache .ruff_cache .coverage .coverage.* htmlcov \
		.ci/junit.xml
	find . -path ./$(VENV) -prune -o \
		\( -name __pycache__ -o -name '*.egg-info' \) -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
