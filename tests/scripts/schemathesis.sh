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

# Two users (bearer text = the caller's `sub`: local-api stands in for the JWT authorizer), as
# Web Fuzzing Commons entries. Requests go as user-1; `object_level_authorization` replays
# user-1's session ids as user-2 (its peer) and fails on any answer that shows them.
work="$(mktemp -d)"
cat >"$work/users.json" <<'JSON'
{"auth": [
  {"name": "user-1", "fixedHeaders": [{"name": "Authorization", "value": "Bearer user-1"}]},
  {"name": "user-2", "fixedHeaders": [{"name": "Authorization", "value": "Bearer user-2"}]}
]}
JSON
cat >"$work/schemathesis.toml" <<TOML
[auth.wfc]
path = "$work/users.json"
user = "user-1"
peers = ["user-1", "user-2"]

# positive_data_acceptance: a request valid by the schema must get a 2xx, except where our
# answer is right for a reason the schema's shapes cannot carry:
#   404: a well-formed session id that does not exist (or is another user's: the same answer);
#   409: link-token for a session that is finished or in review;
#   410: link-token for a session past the app's expiry window;
#   429: the attempt budget (MAX_ATTEMPTS_PER_DAY) or the cool-down of live Plaid reads;
# and, per operation (each list is the whole list for that operation):
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "404", "409", "410", "429"]

# 400 invalid_cursor: the cursor is opaque; a string we did not issue is not one.
[[operations]]
include-name = "GET /sessions"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "429"]

# 403 forbidden: view=full is for callers with the reviewer scope; user-1 has none.
[[operations]]
include-name = "GET /sessions/{id}"
checks.positive_data_acceptance.expected-statuses = ["2xx", "403", "404", "410", "429"]

# 400 template_not_allowed: template_id must be one of this deployment's templates
# (IDV_TEMPLATE_IDS), which the schema cannot list.
[[operations]]
include-name = "POST /sessions"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "409", "429"]

# 400 invalid_body: redirect_uri / android_package_name must be on this deployment's
# allow-lists (PLAID_REDIRECT_URIS, PLAID_ANDROID_PACKAGE_NAMES; empty here), one at most.
[[operations]]
include-name = "POST /sessions/{id}/link-token"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "404", "409", "410", "429"]

# 401: only Plaid can sign a webhook (ES256, Plaid's key); the fuzzer cannot.
[[operations]]
include-name = "POST /webhooks/plaid"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401"]
TOML

# Every check but these, each with its reason:
#   ignored_auth: the JWT authorizer that refuses a bad token is API Gateway's, and local-api,
#     standing in for it, takes any bearer text as the caller's `sub`: an "invalid" token is
#     just another user here, who gets an empty list or 404 (isolation, checked by
#     object_level_authorization), not a 401. A missing bearer is still 401.
#   unsupported_method: a method no route has (TRACE /sessions) is answered by API Gateway
#     itself, 404 {"message":"Not Found"}, before any function, and local-api plays API
#     Gateway; our functions answer 405 with Allow for other methods on their own routes
#     (tests/tests/it/api.rs), which this check cannot reach.
excluded="ignored_auth,unsupported_method"
status=0
"$VENV_BIN/schemathesis" --config-file "$work/schemathesis.toml" run shared/openapi.yaml \
  --url "$url" \
  --checks all \
  --exclude-checks "$excluded" \
  --max-examples 30 \
  --seed 20261126 \
  --generation-deterministic \
  --workers 1 \
  --request-timeout 10 \
  --no-color || status=$?
rm -rf "$work"
exit "$status"
