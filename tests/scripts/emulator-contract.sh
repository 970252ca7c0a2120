#!/usr/bin/env bash
# Contract check of the Plaid emulator against Plaid's own OpenAPI description: starts the
# built emulator and the Prism validating proxy (../shared/tools/plaid-prism --proxy) on free
# ports, drives every Plaid endpoint through the proxy (success and error paths, sessions
# walked to each end state) and fails on any HTTP 500 or any `sl-violations` entry of
# severity Error. (Prism reports a Warning, not an Error, for a 400 on the IDV endpoints,
# whose spec declares no error response; those are allowed.)
#
#   tests/scripts/emulator-contract.sh            # builds plaid-emulator if needed
#   EMULATOR_BIN=path/to/plaid-emulator tests/scripts/emulator-contract.sh
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
root="$ROOT"
contract_prerequisites emulator-contract
prism_tool="$PLAID_PRISM"
target="${CARGO_TARGET_DIR:-$root/target}"
bin="${EMULATOR_BIN:-$target/debug/plaid-emulator}"
if [ -z "${EMULATOR_BIN:-}" ]; then
  (cd "$root" && cargo build -q -p plaid-emulator)
fi

work="$(mktemp -d)"
stop_on_exit
trap 'cleanup; rm -rf "$work"' EXIT

CID=contract-client SECRET=contract-secret TPL=idvtmp_contract TPL2=idvtmp_contract_stepup
spawn env PLAID_CLIENT_ID=$CID PLAID_SECRET=$SECRET IDV_TEMPLATE_ID=$TPL IDV_TEMPLATE_IDS=$TPL2 \
  "$bin" --port 0 >"$work/emu.out" 2>"$work/emu.err"
for _ in $(seq 100); do [ -s "$work/emu.out" ] && break; sleep 0.1; done
first="$(head -1 "$work/emu.out")"
[[ "$first" =~ ^listening\ on\ http://127\.0\.0\.1:([0-9]+)$ ]] || { echo "bad ready line: $first" >&2; cat "$work/emu.err" >&2; exit 1; }
EMU="http://127.0.0.1:${BASH_REMATCH[1]}"

pport="$(free_port)"
spawn bash "$prism_tool" --proxy "$EMU" "$pport" >"$work/prism.log" 2>&1
PRISM="http://127.0.0.1:$pport"
for _ in $(seq 300); do grep -q "Prism is listening" "$work/prism.log" && break; sleep 0.2; done
grep -q "Prism is listening" "$work/prism.log" || { echo "prism did not start" >&2; cat "$work/prism.log" >&2; exit 1; }

passed=0 failed=0
# plaid NAME PATH BODY EXPECTED_STATUS: one Plaid call through the validating proxy.
plaid() {
  local name="$1" path="$2" body="$3" want="$4"
  local status
  status="$(curl -s -o "$work/body" -D "$work/headers" -w '%{http_code}' -X POST "$PRISM$path" \
    -H 'Content-Type: application/json' -H "PLAID-CLIENT-ID: ${AUTH_ID:-$CID}" \
    -H "PLAID-SECRET: ${AUTH_SECRET:-$SECRET}" -H 'Plaid-Version: 2020-09-14' --data "$body")"
  local violations
  violations="$(grep -i '^sl-violations:' "$work/headers" | cut -d' ' -f2- || true)"
  if [ "$status" = 500 ] || echo "$violations" | grep -q '"severity":"Error"' || [ "$status" != "$want" ]; then
    echo "FAIL $name: HTTP $status (want $want) ${violations}" >&2
    head -c 600 "$work/body" >&2; echo >&2
    failed=$((failed+1))
  else
    echo "ok   $name ($status)"
    passed=$((passed+1))
  fi
}
# direct NAME PATH BODY EXPECTED_STATUS ERROR_CODE: a request Plaid's schema itself rejects
# (Prism would answer 422 without asking the emulator), sent straight to the emulator; the
# answer must be Plaid's error body with that error_code.
direct() {
  local name="$1" path="$2" body="$3" want="$4" code="$5" status
  status="$(curl -s -o "$work/body" -w '%{http_code}' -X POST "$EMU$path" \
    -H 'Content-Type: application/json' -H "PLAID-CLIENT-ID: ${AUTH_ID:-$CID}" \
    -H "PLAID-SECRET: ${AUTH_SECRET:-$SECRET}" -H 'Plaid-Version: 2020-09-14' --data "$body")"
  if [ "$status" = "$want" ] && jq -e --arg c "$code" '.error_code == $c and (.error_type|type) == "string"
      and (.error_message|type) == "string" and has("display_message") and (.request_id|type) == "string"' "$work/body" >/dev/null; then
    echo "ok   $name ($status $code, direct)"
    passed=$((passed+1))
  else
    echo "FAIL $name: HTTP $status (want $want $code)" >&2; head -c 600 "$work/body" >&2; echo >&2
    failed=$((failed+1))
  fi
}
ctl() { curl -sf -X "$1" "$EMU$2" -H 'Content-Type: application/json' ${3:+--data "$3"}; }
field() { jq -r "$1" "$work/body"; }

leslie='{"email_address":"leslie@example.com","phone_number":"+12345678909","date_of_birth":"1975-01-18","name":{"given_name":"Leslie","family_name":"Knope"},"address":{"street":"123 Main St.","city":"Pawnee","region":"IN","postal_code":"46001","country":"US"},"id_number":{"type":"us_ssn","value":"123456789"}}'

# create: success, idempotent, duplicate, validation errors
plaid "create (Leslie, shareable)" /identity_verification/create "{\"client_user_id\":\"u-pass\",\"template_id\":\"$TPL\",\"gave_consent\":true,\"is_shareable\":true,\"is_idempotent\":true,\"user\":$leslie}" 200
pass_id="$(field .id)"
plaid "create idempotent" /identity_verification/create "{\"client_user_id\":\"u-pass\",\"template_id\":\"$TPL\",\"gave_consent\":true,\"is_shareable\":true,\"is_idempotent\":true}" 200
plaid "create duplicate" /identity_verification/create "{\"client_user_id\":\"u-pass\",\"template_id\":\"$TPL\",\"gave_consent\":true,\"is_shareable\":false}" 400
direct "create missing fields" /identity_verification/create "{\"client_user_id\":\"u-x\"}" 400 MISSING_FIELDS
plaid "create unknown field" /identity_verification/create "{\"client_user_id\":\"u-x\",\"template_id\":\"$TPL\",\"gave_consent\":false,\"is_shareable\":false,\"colour\":1}" 400
plaid "create bad phone" /identity_verification/create "{\"client_user_id\":\"u-x\",\"template_id\":\"$TPL\",\"gave_consent\":false,\"is_shareable\":false,\"user\":{\"phone_number\":\"555-1234\"}}" 400
plaid "create unknown template" /identity_verification/create "{\"client_user_id\":\"u-x\",\"template_id\":\"idvtmp_nope\",\"gave_consent\":false,\"is_shareable\":false}" 400
direct "create non-JSON body" /identity_verification/create "not json" 400 INVALID_BODY
AUTH_SECRET=wrong plaid "create wrong secret" /identity_verification/create "{\"client_user_id\":\"u-x\",\"template_id\":\"$TPL\",\"gave_consent\":false,\"is_shareable\":false}" 400

# walk sessions to every end state and read them back (each step's result object filled)
ctl POST "/emulator/sessions/$pass_id/finish" '{}' >/dev/null
plaid "get success session" /identity_verification/get "{\"identity_verification_id\":\"$pass_id\"}" 200
[ "$(field .status)" = success ] || { echo "FAIL Leslie did not pass" >&2; failed=$((failed+1)); }
plaid "create (other data)" /identity_verification/create "{\"client_user_id\":\"u-fail\",\"template_id\":\"$TPL\",\"gave_consent\":false,\"is_shareable\":false,\"user\":{\"name\":{\"given_name\":\"Ann\",\"family_name\":\"Perkins\"},\"date_of_birth\":\"1980-02-02\",\"address\":{\"country\":\"US\"}}}" 200
fail_id="$(field .id)"
ctl POST "/emulator/sessions/$fail_id/finish" '{}' >/dev/null
plaid "get failed session" /identity_verification/get "{\"identity_verification_id\":\"$fail_id\"}" 200
[ "$(field .status)" = failed ] || { echo "FAIL other data did not fail" >&2; failed=$((failed+1)); }
for end in pending_review expired canceled; do
  plaid "create ($end)" /identity_verification/create "{\"client_user_id\":\"u-$end\",\"template_id\":\"$TPL\",\"gave_consent\":false,\"is_shareable\":false}" 200
  id="$(field .id)"
  ctl POST "/emulator/sessions/$id/finish" "{\"outcome\":\"$end\"}" >/dev/null
  plaid "get $end session" /identity_verification/get "{\"identity_verification_id\":\"$id\"}" 200
done
for step in verify_sms selfie_check risk_check watchlist_screening; do
  plaid "create (fail $step)" /identity_verification/create "{\"client_user_id\":\"u-fail-$step\",\"template_id\":\"$TPL\",\"gave_consent\":true,\"is_shareable\":false,\"user\":{\"email_address\":\"x@example.com\",\"phone_number\":\"+12345678909\"}}" 200
  id="$(field .id)"
  ctl POST "/emulator/sessions/$id/finish" "{\"outcome\":\"failed\",\"failed_step\":\"$step\"}" >/dev/null
  plaid "get session failed at $step" /identity_verification/get "{\"identity_verification_id\":\"$id\"}" 200
  jq -e --arg s "$step" '.status == "failed" and .steps[$s] == "failed"
      and ([.steps[] | select(. == "failed")] | length) == 1' "$work/body" >/dev/null \
    || { echo "FAIL session failed at $step does not show it: $(jq -c '{status, steps}' "$work/body")" >&2; failed=$((failed+1)); }
done
plaid "create (review)" /identity_verification/create "{\"client_user_id\":\"u-review\",\"template_id\":\"$TPL\",\"gave_consent\":false,\"is_shareable\":false,\"user\":$leslie}" 200
id="$(field .id)"
ctl POST "/emulator/sessions/$id/finish" '{"outcome":"pending_review"}' >/dev/null
ctl POST "/emulator/sessions/$id/review" '{"outcome":"success"}' >/dev/null
plaid "get reviewed session" /identity_verification/get "{\"identity_verification_id\":\"$id\"}" 200
plaid "get unknown id" /identity_verification/get '{"identity_verification_id":"idv_unknown"}' 400
direct "get missing id" /identity_verification/get '{}' 400 MISSING_FIELDS

# retry: each strategy and the refusals
plaid "retry incomplete (after failed kyc)" /identity_verification/retry "{\"client_user_id\":\"u-fail\",\"template_id\":\"$TPL\",\"strategy\":\"incomplete\"}" 200
plaid "retry infer while active" /identity_verification/retry "{\"client_user_id\":\"u-fail\",\"template_id\":\"$TPL\",\"strategy\":\"infer\"}" 400
plaid "retry reset" /identity_verification/retry "{\"client_user_id\":\"u-fail\",\"template_id\":\"$TPL\",\"strategy\":\"reset\",\"is_shareable\":true}" 200
plaid "retry custom" /identity_verification/retry "{\"client_user_id\":\"u-pass\",\"template_id\":\"$TPL2\",\"strategy\":\"custom\",\"steps\":{\"verify_sms\":false,\"kyc_check\":true,\"documentary_verification\":false,\"selfie_check\":true}}" 200
direct "retry custom without steps" /identity_verification/retry "{\"client_user_id\":\"u-pass\",\"template_id\":\"$TPL\",\"strategy\":\"custom\"}" 400 MISSING_FIELDS
plaid "retry steps with reset" /identity_verification/retry "{\"client_user_id\":\"u-pass\",\"template_id\":\"$TPL\",\"strategy\":\"reset\",\"steps\":{\"verify_sms\":true,\"kyc_check\":true,\"documentary_verification\":true,\"selfie_check\":true}}" 400
plaid "retry infer after expired" /identity_verification/retry "{\"client_user_id\":\"u-expired\",\"template_id\":\"$TPL\",\"strategy\":\"infer\"}" 200

# list with paging (u-fail has three sessions; page size 2)
plaid "list page 1" /identity_verification/list "{\"template_id\":\"$TPL\",\"client_user_id\":\"u-fail\"}" 200
cursor="$(field .next_cursor)"
[ "$cursor" != null ] || { echo "FAIL list page 1 has no next_cursor" >&2; failed=$((failed+1)); }
plaid "list page 2" /identity_verification/list "{\"template_id\":\"$TPL\",\"client_user_id\":\"u-fail\",\"cursor\":\"$cursor\"}" 200
[ "$(field .next_cursor)" = null ] || { echo "FAIL list page 2 should be the last" >&2; failed=$((failed+1)); }
plaid "list bad cursor" /identity_verification/list "{\"template_id\":\"$TPL\",\"client_user_id\":\"u-fail\",\"cursor\":\"zzz\"}" 400

# link token
plaid "link token" /link/token/create "{\"client_name\":\"Acme\",\"language\":\"en\",\"country_codes\":[\"US\"],\"user\":{\"client_user_id\":\"u-pass\",\"email_address\":\"leslie@example.com\"},\"products\":[\"identity_verification\"],\"identity_verification\":{\"template_id\":\"$TPL\",\"gave_consent\":true}}" 200
plaid "link token other product" /link/token/create "{\"client_name\":\"Acme\",\"language\":\"en\",\"country_codes\":[\"US\"],\"user\":{\"client_user_id\":\"u-pass\"},\"products\":[\"identity_verification\",\"auth\"],\"identity_verification\":{\"template_id\":\"$TPL\"}}" 400
plaid "link token unknown template" /link/token/create "{\"client_name\":\"Acme\",\"language\":\"en\",\"country_codes\":[\"US\"],\"user\":{\"client_user_id\":\"u-pass\"},\"products\":[\"identity_verification\"],\"identity_verification\":{\"template_id\":\"idvtmp_nope\"}}" 400

# webhook verification keys, including a rotated and an expired one
kid="$(ctl GET /emulator/keys | jq -r .current_kid)"
plaid "key get" /webhook_verification_key/get "{\"key_id\":\"$kid\"}" 200
ctl POST /emulator/keys/rotate >/dev/null
ctl POST "/emulator/keys/$kid/expire" >/dev/null
plaid "key get (expired)" /webhook_verification_key/get "{\"key_id\":\"$kid\"}" 200
[ "$(field .key.expired_at)" != null ] || { echo "FAIL expired key has no expired_at" >&2; failed=$((failed+1)); }
plaid "key get unknown" /webhook_verification_key/get '{"key_id":"nope"}' 400

# injected faults answer Plaid's error bodies
ctl POST /emulator/faults '{"endpoint":"/identity_verification/get","status":429,"count":1}' >/dev/null
plaid "get rate limited" /identity_verification/get "{\"identity_verification_id\":\"$pass_id\"}" 429
ctl POST /emulator/faults '{"endpoint":"/link/token/create","status":503,"count":1}' >/dev/null
plaid "link token unavailable" /link/token/create "{\"client_name\":\"Acme\",\"language\":\"en\",\"country_codes\":[\"US\"],\"user\":{\"client_user_id\":\"u-pass\"},\"products\":[\"identity_verification\"],\"identity_verification\":{\"template_id\":\"$TPL\"}}" 503

# The plain closing line CI reads: "contract: N passed, N failed".
echo "contract: $passed passed, $failed failed"
[ "$failed" = 0 ]
