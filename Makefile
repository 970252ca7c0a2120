# The commands people type. `make run` and `make test` do all the set-up on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
VENV_BIN := $(abspath $(VENV))/bin
export VENV_BIN

.PHONY: help venv run test lint shellcheck help-check deny contract client-contract plaid-drift fmt clippy bench emulator client

# Every shell script of the repository, for shellcheck.
SHELLCHECK ?= $(VENV_BIN)/shellcheck
SH_SCRIPTS := $(wildcard tests/scripts/*.sh tests/plaid-emulator/contract/*.sh) .ci/run

help: ## this list
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

venv: $(VENV)/.installed ## Python tools: cargo-lambda, moto, cfn-lint, aws-sam-cli

$(VENV)/.installed: tests/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV_BIN)/pip install --quiet --upgrade pip
	$(VENV_BIN)/pip install --quiet -r tests/requirements.txt
	touch $@

run: venv ## the whole stack locally (moto, Plaid emulator or real sandbox, functions under cargo lambda watch) and the demo app, on one URL
	bash tests/scripts/run.sh

test: venv ## fmt, clippy, template lint and security scan, all tests against moto + emulator, browser tests, contract tests
	bash tests/scripts/test.sh

lint: shellcheck help-check deny ## shellcheck, `make help` complete, cargo-deny, template lint and checkov (infra-lint)

shellcheck: venv ## shellcheck on every shell script (.shellcheckrc), zero findings
	$(SHELLCHECK) $(SH_SCRIPTS)

deny: ## cargo-deny (deny.toml): licences, duplicate versions, sources; advisories where their database can be fetched
	bash tests/scripts/deny.sh

help-check: ## every target of the Makefiles has its line in `make help`
	bash tests/scripts/help-check.sh

contract: venv ## requests and emulator answers judged by Plaid's OpenAPI spec (team kit's plaid-prism; skipped without it, an error with REQUIRE_CONTRACT=1)
	bash tests/scripts/contract.sh

client-contract: ## the emulator judged by Plaid's own clients, plaid-python 40.0.0 and 46.0.0 (registries only)
	bash tests/plaid-emulator/contract/run.sh

plaid-drift: ## the same check against the newest published plaid-python: has Plaid's API moved?
	PLAID_PYTHON_VERSIONS=latest bash tests/plaid-emulator/contract/run.sh

bench: venv ## cold start, latency, memory and size vs the Python baseline (writes tests/bench/README.md)
	bash tests/scripts/bench.sh

client: ## regenerate the demo's typed client (tests/demo/client: TypeScript types from shared/openapi.yaml, client.js by tsc)
	bash tests/scripts/client.sh

emulator: ## the Plaid IDV emulator alone, on port 8099
	cargo run -q -p plaid-emulator -- --port 8099

fmt: ## format the code
	cargo fmt --all

clippy: ## lints as CI runs them
	cargo clippy --workspace --all-targets -- -D warnings

-include infra/infra.mk
