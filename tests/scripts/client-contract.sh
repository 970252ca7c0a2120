#!/usr/bin/env bash
# Contract check of the Plaid client: starts Prism serving Plaid's own OpenAPI description
# (../shared/tools/plaid-prism, a validating mock) on a free loopback port, runs
# `cargo test -p shared --test it contract:: -- --ignored` against it, and stops Prism again, also on failure.
# Exits non-zero when any request the client builds is rejected by the spec or any response
# fails to parse. Without the team kit beside the checkout, or Node/npm, it says so and exits 0;
# with REQUIRE_CONTRACT=1 (CI) it fails instead.
#
# Env: PRISM_START_TIMEOUT (seconds, default 600: the first run installs Prism from npm);
#      PLAID_PRISM (path to the plaid-prism tool, for checkouts that do not sit beside the kit);
#      REQUIRE_CONTRACT=1 (a check that cannot run is an error).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
root="$ROOT"
contract_prerequisites client-contract
prism="$PLAID_PRISM"

port="$(free_port)"
log="$(mktemp "${TMPDIR:-/tmp}/plaid-prism.XXXXXX")"
stop_on_exit
trap 'cleanup; rm -f "$log"' EXIT

echo "client-contract: starting plaid-prism on 127.0.0.1:$port"
# Its own process group: Prism, and npm during its first install, are stopped with it.
spawn bash "$prism" "$port" >"$log" 2>&1
pid="${PIDS[0]}"

deadline=$(( $(date +%s) + ${PRISM_START_TIMEOUT:-600} ))
until code="$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$port/webhook_verification_key/get" || true)" \
      && [ "$code" != "000" ]; do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "client-contract: plaid-prism exited before answering:" >&2
    cat "$log" >&2
    exit 1
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "client-contract: plaid-prism did not answer within ${PRISM_START_TIMEOUT:-600}s:" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
  sleep 0.5
done
echo "client-contract: plaid-prism answers; running the contract test"

cd "$root"
status=0
out="$(mktemp "${TMPDIR:-/tmp}/client-contract.XXXXXX")"
trap 'cleanup; rm -f "$log" "$out"' EXIT
PLAID_PRISM_URL="http://127.0.0.1:$port" cargo test -p shared --test it contract:: -- --ignored --nocapture 2>&1 |
  tee "$out" || status=$?
# A filter that matches no test passes with 0 tests: make sure the contract test did run here.
if [ "$status" -eq 0 ] && ! grep -qE '^test result: ok\. [1-9][0-9]* passed' "$out"; then
  echo "client-contract: FAILED: the contract test did not run against Prism" >&2
  status=1
fi
if [ "$status" -ne 0 ]; then
  echo "client-contract: FAILED (Prism's log follows)" >&2
  grep -E "✖|error|violation" "$log" | tail -n 40 >&2 || true
fi
exit "$status"
