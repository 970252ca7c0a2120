#!/usr/bin/env bash
# `make contract`: our Plaid client's requests and the emulator's answers, judged by Plaid's own
# OpenAPI description (the team kit's plaid-prism, ../shared/tools/plaid-prism or $PLAID_PRISM).
# Without the kit, Node/npm or jq it skips, saying why; with REQUIRE_CONTRACT=1 (CI) that is an
# error instead.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
contract_prerequisites contract
status=0
for s in client-contract.sh emulator-contract.sh; do
  echo "== contract: $s"
  bash "tests/scripts/$s" || status=1
done
exit $status
