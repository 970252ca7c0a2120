#!/usr/bin/env bash
# `make run`: the whole stack on this machine — moto (DynamoDB + Secrets Manager), the Plaid IDV
# emulator (or real Plaid when PLAID_CLIENT_ID / PLAID_SECRET are set), the five functions under
# `cargo lambda watch` (routed by path and method), and in front of them `idv-local serve`: the
# demo app and the API on one origin. Prints that one URL and a copy-paste walk-through. Ctrl-C
# stops everything it started.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
stop_on_exit
local_aws_env

RUN_DIR="$ROOT/target/run"
mkdir -p "$RUN_DIR"
APP_PORT="${APP_PORT:-8080}"
LAMBDA_PORT="${LAMBDA_PORT:-9000}"
export TABLE_NAME="${TABLE_NAME:-idv-sessions}"
export PLAID_SECRET_ID="${PLAID_SECRET_ID:-plaid/idv-local}"
# idv-local events appends each outcome event here; idv-local serve shows the latest on the page.
export IDV_EVENTS_JSON="$RUN_DIR/events.jsonl"
: >"$IDV_EVENTS_JSON"

echo "== building the functions and the test kit (the first time takes a few minutes)"
build_stack
start_moto
start_plaid "$RUN_DIR" "http://127.0.0.1:$APP_PORT/webhooks/plaid"
setup_local_aws
# publish-events over the table's stream: every outcome event is printed here as it happens;
# --webhooks also delivers each one as a signed webhook (the sender over a second rule's queue)
# to tests/webhooks/receiver.py, which verifies it with the `standardwebhooks` package.
echo "== outcome events and signed webhooks (publish-events; also in $RUN_DIR/events.log)"
watch_events() {
  "$ROOT/target/debug/idv-local" events --webhooks --table "$TABLE_NAME" 2>&1 | tee "$RUN_DIR/events.log"
}
spawn watch_events
echo "== starting the functions under cargo lambda watch (logs: $RUN_DIR/functions.log)"
start_functions "$RUN_DIR" "$LAMBDA_PORT"
start_front "$RUN_DIR" "$APP_PORT" "$LAMBDA_PORT"

cat <<TXT

ready. Open this in a browser, pick alice, and verify her by clicking through Link:

    $FRONT_URL/

  (the demo app and the API on one origin; in Link use Sandbox's test identity: Leslie Knope,
  +1 234 567 8909, born 1975-01-18, 123 Main St., Pawnee, IN 46001, SMS code 11111)

  DynamoDB + Secrets Manager (moto)  $AWS_ENDPOINT_URL   table $TABLE_NAME, secret $PLAID_SECRET_ID
  Plaid                              ${EMULATOR_URL:-https://$PLAID_ENV.plaid.com} ($PLAID_MODE)
  functions (cargo lambda watch)     http://127.0.0.1:$LAMBDA_PORT (same routes; behind the app)
  outcome events (publish-events)    bus idv-events -> SQS queue idv-events, printed here ($RUN_DIR/events.log)
  signed webhooks (the sender)       bus idv-events -> SQS queue idv-webhooks -> tests/webhooks/receiver.py,
                                     each delivery and its verdict ("receiver verified") printed here too
  logs                               $RUN_DIR/

The same by hand (copy and paste into another terminal):

  API=$FRONT_URL
  EMU=${EMULATOR_URL:-<no emulator: real Plaid>}

  # 1. alice starts a verification: 201 and the session (or 200 and the one she already has)
  ID=\$(curl -s -X POST \$API/sessions -H 'x-local-user: alice' \\
        -H 'content-type: application/json' -d '{"gave_consent": true}' | tee /dev/stderr | jq -r .id)

  # 2. a Plaid Link token for her session (the front end opens Link with it)
  curl -s -X POST \$API/sessions/\$ID/link-token -H 'x-local-user: alice'; echo

  # 3. she completes the flow: the emulator walks every step and fires signed webhooks
  curl -s -X POST \$EMU/emulator/sessions/\$ID/finish -H 'content-type: application/json' \\
        -d '{"outcome": "success"}' > /dev/null

  # 4. the webhooks arrived at POST /webhooks/plaid, and the webhook function answered 200
  curl -s \$EMU/emulator/webhooks | jq -c '.[] | {webhook_code, status: .attempts[0].status}'

  # 5. the result, and her sessions
  curl -s \$API/sessions/\$ID -H 'x-local-user: alice' | jq '{id, status, final, steps}'
  curl -s \$API/sessions -H 'x-local-user: alice' | jq -c '.sessions[] | {id, status}'

  # The failing path: bob fails, and his next start is a retry (new id, previous_attempt_id)
  B=\$(curl -s -X POST \$API/sessions -H 'x-local-user: bob' | jq -r .id)
  curl -s -X POST \$EMU/emulator/sessions/\$B/finish -H 'content-type: application/json' -d '{"outcome": "failed"}' > /dev/null
  curl -s \$API/sessions/\$B -H 'x-local-user: bob' | jq -c '{status, final}'
  curl -s -X POST \$API/sessions -H 'x-local-user: bob' | jq -c '{id, status, previous_attempt_id}'

  # Someone else's session is not found; a route no function serves is 404, a wrong method 405
  curl -s \$API/sessions/\$ID -H 'x-local-user: mallory'; echo
  curl -s -X DELETE \$API/sessions/\$ID -H 'x-local-user: alice'; echo

  # A forged webhook is refused (cargo lambda from the project's venv, .venv/bin)
  PATH="$VENV_BIN:\$PATH" cargo lambda invoke -A 127.0.0.1 -P $LAMBDA_PORT webhook --data-file tests/events/webhook-forged.json

  # Past the app's expiry window (SESSION_TTL_SECONDS) a session answers 410 and a start retries;
  # idv-local expire moves carol's expires_at into the past in the local table
  C=\$(curl -s -X POST \$API/sessions -H 'x-local-user: carol' | jq -r .id)
  AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL target/debug/idv-local expire --table $TABLE_NAME \$C
  curl -s -X POST \$API/sessions/\$C/link-token -H 'x-local-user: carol'; echo
  curl -s -X POST \$API/sessions -H 'x-local-user: carol' | jq -c '{id, status, previous_attempt_id}'

Ctrl-C stops everything.
TXT
wait
