# Every target that runs code first makes sure .venv exists and holds the
# project, so on a fresh machine `make serve` or `make test` is the only step.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ARGS   ?=

.PHONY: serve test lint openapi contract clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python >= 3.11 is required; set PYTHON=python3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

## serve: run the simulator for every provider on 127.0.0.1:8000 (in-memory state)
serve: $(STAMP)
	$(BIN)/seedance-mock serve $(ARGS)

## test: lint, type-check and run every test (what CI runs)
test: lint redis-server browser node
	$(BIN)/python -m pytest $(ARGS)

## node: install Debian's nodejs when missing (seedance-mock exercise runs a Node client in the tests)
.PHONY: node
node:
	@command -v node >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing nodejs (Debian package) for the exercise tests' Node client"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq --no-install-recommends nodejs >/dev/null; \
	  else \
	    echo "the tests need node: run 'sudo apt-get install nodejs'" >&2; \
	    exit 1; \
	  fi; }

## browser: install Debian's chromium when missing (the dashboard tests drive it headless)
.PHONY: browser
browser:
	@sh tests/dashboard/install_browser.sh

## redis-server: install Debian's redis-server when missing (the tests start their own on a free port)
.PHONY: redis-server
redis-server:
	@command -v redis-server >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing redis-server (Debian package) for the Redis store tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq --no-install-recommends redis-server >/dev/null; \
	  else \
	    echo "the tests need redis-server: run 'sudo apt-get install redis-server'" >&2; \
	    exit 1; \
	  fi; }
	@command -v redis-server >/dev/null 2>&1 || { echo "redis-server is still missing" >&2; exit 1; }

## lint: ruff and mypy
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	MYPYPATH=tests/benchmarks $(BIN)/mypy --explicit-package-bases tests/benchmarks/*.py

## openapi: write the OpenAPI 3.1 document of each provider to openapi/
openapi: $(STAMP)
	@mkdir -p openapi
	for provider in $$($(BIN)/python -c 'from mockserver.spec import PROVIDERS; print(*PROVIDERS)'); do \
	  $(BIN)/seedance-mock openapi --provider $$provider --output openapi/$$provider.json || exit 1; \
	done

## contract: the contract suite against a target (ARGS="--target url --base-url http://127.0.0.1:8000")
contract: $(STAMP)
	$(BIN)/seedance-mock contract $(ARGS)

## contract-prism: the contract suite against Stoplight Prism mocking each exported
##                 OpenAPI document (npm installs Prism outside the tree; about a minute)
.PHONY: contract-prism
contract-prism: $(STAMP)
	$(BIN)/python -m contracts.against_prism $(ARGS)

clean:
	rm -rf $(VENV) openapi build dist .pytest_cache .mypy_cache .ruff_cache .hypothesis

## fuzz: 100,000 hostile HTTP inputs to every provider, in-process and over sockets (gunicorn,
##       granian), every answer checked against spec/ and the ledger audited; not part of make test
.PHONY: fuzz
fuzz: $(STAMP)
	$(BIN)/python tests/reliability/fuzz_run.py $(ARGS)

## bench: the simulator against Prism, WireMock and a bare WSGI app, one run, one machine
##        (about 11 minutes; the report goes to tests/benchmarks/last-run.md; ARGS="--help")
.PHONY: bench bench-deps bench-soak
bench: bench-deps
	$(BIN)/python tests/benchmarks/run.py $(ARGS)

## bench-soak: full load for 10 minutes, the worker's resident memory every 30 s
bench-soak: bench-deps
	$(BIN)/python tests/benchmarks/bench_soak.py $(ARGS)

## bench-deps: wrk and redis-server (apt), granian and py-spy (pip), Prism and WireMock (npm)
bench-deps: $(STAMP)
	@PYTHON=$(BIN)/python bash tests/benchmarks/deps.sh
