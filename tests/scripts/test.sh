#!/usr/bin/env bash
# `make test`: formatting, lints, template checks and the whole test suite against moto and the
# Plaid emulator, all on loopback, and the emulator judged by Plaid's own Python clients. Stops everything it started, also on failure.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
stop_on_exit
local_aws_env

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
echo "== lint (shellcheck, make help complete, cfn-lint, sam validate --lint, checkov)"
make --no-print-directory lint
echo "== typed client current with shared/openapi.yaml, and its tests"
bash tests/scripts/client.sh --check
start_moto
echo "== cargo test"
cargo test --workspace
echo "== emulator client contract (plaid-python 40.0.0 and 46.0.0)"
bash tests/plaid-emulator/contract/run.sh
echo "== browser tests (demo app and Link stand-in, headless Chromium)"
bash tests/scripts/browser.sh
echo "== schemathesis"
bash tests/scripts/schemathesis.sh
echo "== contract tests against Plaid's spec"
make --no-print-directory contract
