# Two commands matter: `make demo` (the whole pipeline, locally, end to end) and `make test`.
# Everything else is here for the people who work on it.

# The functions run on Lambda's python3.13: use that interpreter for the venv when the machine has
# it (pyenv's copy counts even when inactive), else any python3 >= 3.11 (the code supports both).
PYTHON ?= $(shell for p in python3.13 $(HOME)/.pyenv/versions/3.13*/bin/python3.13 python3; do \
            $$p -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null && { echo $$p; break; }; done)
VENV   := .venv
BIN    := $(VENV)/bin
PYVER  := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
STAMP  := $(VENV)/.installed-$(PYVER)-$(shell cat pyproject.toml shared/requirements.txt | cksum | cut -d' ' -f1)
SAM_VENV := .local/sam-venv
# checkov pins its own boto3 (older than ours), so it gets a venv of its own, like the SAM CLI.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := .local/checkov-$(CHECKOV_VERSION)

export PYTHONDONTWRITEBYTECODE := 1
export SAM_CLI_TELEMETRY := 0

.PHONY: help setup demo local test unit integration lint format validate sam-validate invoke \
        simulator redrive bench bench-slots bench-budgets sync-spec openapi build clean security requirements lock-check \
        fuzz ops smoke mutants chaos

$(STAMP): pyproject.toml shared/requirements.txt
	@# A venv made by another Python version is made again.
	@test -x $(BIN)/python && $(BIN)/python -c 'import sys; assert "%d.%d" % sys.version_info[:2] == "$(PYVER)"' \
		2>/dev/null || (rm -rf $(VENV) && $(PYTHON) -m venv $(VENV))
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	@# --compile-bytecode: PYTHONDONTWRITEBYTECODE is set on these machines, and without .pyc
	@# files every cold start imports ~3x slower.
	@# The layer's lock as constraints: tests run the exact versions Lambda gets.
	$(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode -r pyproject.toml --extra dev \
		-c shared/requirements.txt
	@rm -f $(VENV)/.installed-*; touch $@

setup: $(STAMP)  ## create .venv with everything the project needs

demo: setup  ## start the local stack, run video/image/audio jobs through it, show where they landed, stop
	$(BIN)/python -m local.demo

local: setup  ## run the whole pipeline locally in the foreground (Ctrl-C stops it)
	$(BIN)/python -m local

simulator: setup  ## run only the Magic Hour simulator
	$(BIN)/python -m local.simulator

test: setup  ## unit, simulator, integration and end-to-end tests
	$(BIN)/python -m pytest -q

unit: setup  ## unit tests only (a few seconds, sockets off: tests/README.md)
	$(BIN)/python -m pytest -q tests/unit

integration: setup  ## integration and end-to-end tests (each session starts its own local stack)
	$(BIN)/python -m pytest -q tests/integration tests/e2e

fuzz: setup  ## property-based fuzzing of every entry point, longer than in `make test` (FUZZ_EXAMPLES=5000 per entry point)
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-5000} $(BIN)/python -m pytest -q --timeout=0 tests/integration/test_fuzz.py \
		tests/integration/test_fuzz_batches.py

chaos: setup  ## the chaos test, longer than in `make test`: random Lambda environments killed under a burst (CHAOS_JOBS=60, CHAOS_KILLS_PER_MIN=60)
	CHAOS_JOBS=$${CHAOS_JOBS:-60} CHAOS_KILLS_PER_MIN=$${CHAOS_KILLS_PER_MIN:-60} $(BIN)/python -m pytest -q -s --timeout=0 tests/integration/test_chaos.py

MUTMUT_TREE := .local/mutmut
MUTMUT_LINKS := layer_path.py tests local scripts functions events docs spec openapi.json template.yaml README.md pyproject.toml bench

mutants: setup  ## mutation testing of the state machine and money-safety logic with the unit tests (JOBS=2 workers)
	@# mutmut only finds a package at the top of the tree (or under src/); ours is shared/pipeline.
	@mkdir -p $(MUTMUT_TREE)
	@cd $(MUTMUT_TREE) && ln -sfn $(CURDIR)/shared/pipeline pipeline && for p in $(MUTMUT_LINKS); do ln -sfn $(CURDIR)/$$p $$p; done
	@# mutmut keeps the verdicts of an earlier run even when new tests would kill its survivors.
	@rm -rf $(MUTMUT_TREE)/mutants
	cd $(MUTMUT_TREE) && ../../$(BIN)/mutmut run --max-children $(or $(JOBS),2); ../../$(BIN)/mutmut results

lint: setup  ## ruff, the layering of shared/pipeline (import-linter) and mypy
	$(BIN)/ruff check .
	PYTHONPATH=shared $(BIN)/lint-imports --no-cache
	$(BIN)/mypy layer_path.py shared local scripts bench ops tests/fakes.py tests/polling.py tests/magic_hour_answers.py tests/handlers.py
	@# Every function's module is called app.py (Lambda's handler path), so each is checked alone.
	@for handler in functions/*/app.py; do $(BIN)/mypy $$handler || exit 1; done

format: setup  ## ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

validate: setup  ## cfn-lint (always) and sam validate --lint (when the SAM CLI is installed: make sam-validate)
	$(BIN)/cfn-lint template.yaml

security: setup $(CHECKOV_VENV)/bin/checkov  ## checkov and cfn-lint's serverless rules on the template, bandit on the Lambda code, the lock
	@# Every finding is fixed or suppressed in place with its reason (template Metadata, # nosec).
	$(BIN)/cfn-lint template.yaml -a cfn_lint_serverless.rules
	$(CHECKOV_VENV)/bin/checkov -f template.yaml --framework cloudformation --quiet --compact --skip-download
	@# What ships to Lambda; local/, scripts/ and bench/ are checked by ruff's flake8-bandit (S) rules.
	$(BIN)/bandit -q -r shared functions
	$(BIN)/python -m scripts.lock_requirements --check

$(CHECKOV_VENV)/bin/checkov: | setup
	rm -rf $(CHECKOV_VENV) && $(PYTHON) -m venv $(CHECKOV_VENV)
	$(BIN)/uv pip install --quiet --python $(CHECKOV_VENV)/bin/python checkov==$(CHECKOV_VERSION)

requirements: setup  ## regenerate shared/requirements.txt (hashes, Lambda's platform) from pyproject.toml
	$(BIN)/python -m scripts.lock_requirements

lock-check: setup  ## does shared/requirements.txt agree with pyproject.toml? (offline)
	$(BIN)/python -m scripts.lock_requirements --check

sam-validate: $(SAM_VENV)/bin/sam  ## sam validate --lint, with the SAM CLI in its own venv
	$(SAM_VENV)/bin/sam validate --lint --region us-east-1

$(SAM_VENV)/bin/sam:
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet aws-sam-cli

build: $(SAM_VENV)/bin/sam  ## sam build (python3.13, arm64; no Docker; needs python3.13, found as for PYTHON)
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null || \
		(echo "sam build needs python3.13 (Lambda's runtime); install it (e.g. pyenv install 3.13)" && exit 2)
	PATH="$$(dirname $$(command -v $(PYTHON))):$$PATH" $(SAM_VENV)/bin/sam build
	@# Lambda's /opt and /var/task are read-only: without shipped bytecode every new execution
	@# environment compiles each module it imports (2-9x slower imports, make bench). Compiled by
	@# the runtime's 3.13, unchecked-hash (survives zip extraction; see bench/artifact.py); the
	@# check fails the build when any module of a built function or layer has no bytecode.
	$(PYTHON) -m bench.artifact compile .aws-sam/build

invoke: setup  ## invoke one function with a sample event: make invoke FN=WebhookFunction EVENT=events/webhook-video-completed.json
	@# The function names come from template.yaml, so the usage line cannot fall behind it.
	@test -n "$(FN)" -a -n "$(EVENT)" || (echo "usage: make invoke FN=<$$(sed -n 's/^  \([A-Za-z]\+Function\):$$/\1/p' template.yaml | paste -sd'|')> EVENT=events/<file>.json" && exit 2)
	$(BIN)/python -m local.invoke $(FN) $(EVENT)

redrive: setup  ## move messages from the download dead-letter queue back (against LOCAL_AWS_PORT)
	$(BIN)/python -m ops redrive download

ops: setup  ## operator commands: make ops ARGS="jobs --stuck" (python -m ops --help; docs/runbook.md)
	$(BIN)/python -m ops $(ARGS)

smoke: setup  ## one cheap job through a deployed stack: make smoke API_URL=https://... API_KEY=...
	@test -n "$(API_URL)" -a -n "$(API_KEY)" || (echo "usage: make smoke API_URL=<stack output ApiUrl> API_KEY=<an API key value>" && exit 2)
	$(BIN)/python -m ops.smoke --api-url "$(API_URL)" --api-key "$(API_KEY)"

bench: setup  ## measured figures: burst throughput, download memory/throughput vs raw GET/PUT, latency, cold starts (source and built artifact), recovery cost of killed environments, the fair sweep
	$(BIN)/python -m bench

bench-slots: setup  ## a burst against Magic Hour's plan limit: slots, 429s, fairness (about 2 minutes)
	$(BIN)/python -m bench.slots

bench-budgets: setup  ## 10 and 100 simultaneous creates against a daily credit budget: created, charged, overshoot (about 1 minute)
	$(BIN)/python -m bench.budgets

openapi: setup  ## regenerate openapi.json from the routes (a test keeps it in sync)
	$(BIN)/python -m scripts.export_openapi

sync-spec: setup  ## re-derive the tool catalogue (and docs/magic-hour-tools.md) from spec/magic-hour/openapi.json (or SPEC=path) and the pinned magic-hour SDK
	$(BIN)/python -m scripts.sync_magic_hour_spec $(SPEC)

help:  ## this list
	@sed -n 's/^\([a-z-]*\):.*## \(.*\)/\1|\2/p' $(MAKEFILE_LIST) | column -t -s'|'

clean:  ## remove .local (SAM and checkov venvs, mutmut's tree, the demo's log), the tools' caches and SAM's build
	rm -rf .local .pytest_cache .mypy_cache .ruff_cache .aws-sam
