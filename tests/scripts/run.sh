#!/usr/bin/env bash
# `make run`: the whole stack on this machine — moto (DynamoDB + Secrets Manager), the Plaid IDV
# emulator (or real Plaid when PLAID_CLIENT_ID / PLAID_SECRET are set), and the five functions
# under `cargo lambda watch` — then a copy-paste walk-through of one verification. Ctrl-C stops
# everything it started.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
trap cleanup EXIT INT TERM
local_aws_env

RUN_DIR="$ROOT/target/run"
mkdir -p "$RUN_DIR"
LAMBDA_PORT="${LAMBDA_PORT:-9000}"
export TABLE_NAME="${TABLE_NAME:-idv-sessions}"
export PLAID_SECRET_ID="${PLAID_SECRET_ID:-plaid/idv-local}"

echo "== building the functions and the test kit (the first time takes a few minutes)"
cargo build -q -p testkit --bins
cargo build -q -p create-session -p link-token -p get-session -p webhook -p reconcile

start_moto

if [ -n "${PLAID_CLIENT_ID:-}" ] && [ -n "${PLAID_SECRET:-}" ]; then
  MODE=plaid
  : "${IDV_TEMPLATE_ID:?with real Plaid credentials, set IDV_TEMPLATE_ID to an IDV template of that environment}"
  export PLAID_ENV="${PLAID_ENV:-sandbox}"
  unset PLAID_BASE_URL
  client_id="$PLAID_CLIENT_ID" secret="$PLAID_SECRET"
else
  MODE=emulator
  export IDV_TEMPLATE_ID="${IDV_TEMPLATE_ID:-idvtmp_emulator_default}"
  export PLAID_ENV=sandbox
  client_id=emulator-client-id secret=emulator-secret
  setsid env PLAID_CLIENT_ID="$client_id" PLAID_SECRET="$secret" \
    target/debug/plaid-emulator --port 0 \
    --webhook-url "http://127.0.0.1:$LAMBDA_PORT/webhooks/plaid" \
    >"$RUN_DIR/emulator.out" 2>"$RUN_DIR/emulator.log" &
  PIDS+=("$!")
  for _ in $(seq 100); do
    line="$(head -n1 "$RUN_DIR/emulator.out" 2>/dev/null || true)"
    [ -n "$line" ] && break
    sleep 0.1
  done
  case "$line" in
    "listening on "*) EMULATOR_URL="${line#listening on }" ;;
    *) echo "the emulator did not start; see $RUN_DIR/emulator.log" >&2; exit 1 ;;
  esac
  export PLAID_BASE_URL="$EMULATOR_URL"
fi

target/debug/idv-local setup --table "$TABLE_NAME" --secret-id "$PLAID_SECRET_ID" \
  --client-id "$client_id" --secret "$secret"
# The functions read Plaid's credentials from the secret only, as deployed.
unset PLAID_CLIENT_ID PLAID_SECRET
# Local only: there is no JWT authorizer under cargo lambda watch, so the caller names itself in
# `x-local-user`. The functions refuse this switch unless DynamoDB is on loopback.
export IDV_LOCAL_IDENTITY=insecure-local-only
export RUST_LOG="${RUST_LOG:-info}"

setsid cargo lambda watch -q -A 127.0.0.1 -P "$LAMBDA_PORT" >"$RUN_DIR/functions.log" 2>&1 &
PIDS+=("$!")
API="http://127.0.0.1:$LAMBDA_PORT/lambda-url"
echo "== starting the functions under cargo lambda watch (logs: $RUN_DIR/functions.log)"
wait_http "http://127.0.0.1:$LAMBDA_PORT/" 60
# The first call to each function compiles and starts it: warm them up, with a long timeout
# (short ones leave orphan invocations behind, see tooling notes).
for fn in create-session link-token get-session webhook; do
  curl -s -o /dev/null -m 300 -X POST "$API/$fn/warmup" -H 'content-type: application/json' -d '{}' || true
done
status="$(curl -s -o /dev/null -w '%{http_code}' -m 60 -H 'x-local-user: probe' "$API/get-session/sessions")"
if [ "$status" != 200 ]; then
  echo "get-session answered $status; see $RUN_DIR/functions.log" >&2
  exit 1
fi

cat <<TXT

ready.
  DynamoDB + Secrets Manager (moto)  $AWS_ENDPOINT_URL   table $TABLE_NAME, secret $PLAID_SECRET_ID
  Plaid                              ${EMULATOR_URL:-https://$PLAID_ENV.plaid.com} ($MODE)
  functions (cargo lambda watch)     $API/<function>/<path>
  logs                               $RUN_DIR/

Walk one verification (copy and paste into another terminal):

  API=$API
  EMU=${EMULATOR_URL:-<no emulator: real Plaid>}

  # 1. alice starts a verification: 201 and the session (or 200 and the one she already has)
  ID=\$(curl -s -X POST \$API/create-session/sessions -H 'x-local-user: alice' \\
        -H 'content-type: application/json' -d '{"gave_consent": true}' | tee /dev/stderr | jq -r .id)

  # 2. a Plaid Link token for her session (the front end opens Link with it)
  curl -s -X POST \$API/link-token/sessions/\$ID/link-token -H 'x-local-user: alice'; echo

  # 3. she completes the flow: the emulator walks every step and fires signed webhooks
  curl -s -X POST \$EMU/emulator/sessions/\$ID/finish -H 'content-type: application/json' \\
        -d '{"outcome": "success"}' > /dev/null

  # 4. the webhooks arrived, and the webhook function answered 200 to each
  curl -s \$EMU/emulator/webhooks | jq -c '.[] | {webhook_code, status: .attempts[0].status}'

  # 5. the result
  curl -s \$API/get-session/sessions/\$ID -H 'x-local-user: alice' | jq '{id, status, final, steps}'

  # The failing path: bob fails, and his next start is a retry (new id, previous_attempt_id)
  B=\$(curl -s -X POST \$API/create-session/sessions -H 'x-local-user: bob' | jq -r .id)
  curl -s -X POST \$EMU/emulator/sessions/\$B/finish -H 'content-type: application/json' -d '{"outcome": "failed"}' > /dev/null
  curl -s \$API/get-session/sessions/\$B -H 'x-local-user: bob' | jq -c '{status, final}'
  curl -s -X POST \$API/create-session/sessions -H 'x-local-user: bob' | jq -c '{id, status, previous_attempt_id}'

  # Someone else's session is not found; a forged webhook is refused
  curl -s \$API/get-session/sessions/\$ID -H 'x-local-user: mallory'; echo
  cargo lambda invoke -A 127.0.0.1 -P $LAMBDA_PORT webhook --data-file tests/events/webhook-forged.json

Ctrl-C stops everything.
TXT
wait
