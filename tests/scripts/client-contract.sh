#!/usr/bin/env bash
# Contract check of the Plaid client: starts Prism serving Plaid's own OpenAPI description
# (../shared/tools/plaid-prism, a validating mock) on a free loopback port, runs
# `cargo test -p shared --test it contract:: -- --ignored` against it, and stops Prism again, also on failure.
# Exits non-zero when any request the client builds is rejected by the spec or any response
# fails to parse. Without the team kit beside the checkout it says so and exits 0.
#
# Env: PRISM_START_TIMEOUT (seconds, default 600: the first run installs Prism from npm);
#      PLAID_PRISM (path to the plaid-prism tool, for checkouts such as git worktrees that do
#      not sit beside the team kit).
set -euo pipefail

root="$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)"
prism="${PLAID_PRISM:-$root/../shared/tools/plaid-prism}"
if [ ! -f "$prism" ]; then
  echo "client-contract: skipped: $prism does not exist (the team kit ../shared is not beside this checkout)"
  exit 0
fi

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
log="$(mktemp -t plaid-prism.XXXXXX.log)"
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    # Prism (and npm during its first install) run in their own process group.
    kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -f "$log"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "client-contract: starting plaid-prism on 127.0.0.1:$port"
setsid bash "$prism" "$port" >"$log" 2>&1 &
pid=$!

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
PLAID_PRISM_URL="http://127.0.0.1:$port" cargo test -p shared --test it contract:: -- --ignored --nocapture || status=$?
if [ "$status" -ne 0 ]; then
  echo "client-contract: FAILED (Prism's log follows)" >&2
  grep -E "✖|error|violation" "$log" | tail -n 40 >&2 || true
fi
exit "$status"
