#!/usr/bin/env bash
# Schema-driven fuzzing: Schemathesis generates requests from our own OpenAPI description
# (shared/openapi.yaml) and judges the answers of the real handlers, served over HTTP by
# `local-api` (tests/src/bin/local-api.rs) on moto + an in-process Plaid emulator.
# Fixed budget and seed, so a run is bounded and repeatable. Fails on any failed check.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
stop_on_exit
local_aws_env

SCHEMATHESIS_VERSION=4.32.5
if ! "$VENV_BIN/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  echo "installing schemathesis==$SCHEMATHESIS_VERSION into $VENV_BIN"
  # --force-reinstall: an interrupted install can leave the package without its command.
  "$VENV_BIN/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
  "$VENV_BIN/schemathesis" --version >/dev/null 2>&1 ||
    "$VENV_BIN/pip" install --quiet --force-reinstall --no-deps "schemathesis==$SCHEMATHESIS_VERSION"
fi

# Under `make test` moto is already up; alone, start our own.
if [ -z "${AWS_ENDPOINT_URL:-}" ]; then
  start_moto
fi

cargo build -q -p testkit --bin local-api
target_dir="${CARGO_TARGET_DIR:-$ROOT/target}"
mkdir -p "$ROOT/target"
out="$(mktemp)"
spawn "$target_dir/debug/local-api" --port 0 >"$out" 2>"$ROOT/target/local-api.log"
url=""
for _ in $(seq 1 300); do
  url="$(sed -n 's/^listening on //p' "$out" | head -n1)"
  [ -n "$url" ] && break
  sleep 0.1
done
rm -f "$out"
[ -n "$url" ] || { echo "local-api did not start (target/local-api.log)" >&2; exit 1; }
echo "local-api on $url"

# Bearer text = the caller's `sub` (local-api stands in for the JWT authorizer).
"$VENV_BIN/schemathesis" run shared/openapi.yaml \
  --url "$url" \
  --header "Authorization: Bearer user-1" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
  --max-examples 30 \
  --seed 20261126 \
  --generation-deterministic \
  --workers 1 \
  --request-timeout 10 \
  --no-color
