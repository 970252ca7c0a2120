#!/usr/bin/env bash
# Browser tests (part of `make test`): the demo app (tests/demo) on the local stack, driven by
# Playwright in a headless Chromium, plus the emulator's own Link stand-in tests. Brings up the
# same pieces as `make run` (moto, emulator, cargo lambda watch, idv-local serve) on free ports,
# runs pytest on tests/browser/, and stops everything it started. Screenshots: target/browser/.
#
# Chromium: $CHROME_PATH (any installed Chrome or Chromium) or Debian's `chromium`, installed with
# apt-get when missing (sudo when not root). Playwright's own browser download is not used.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
trap cleanup EXIT INT TERM
local_aws_env

if [ -z "${CHROME_PATH:-}" ]; then
  CHROME_PATH="$(command -v chromium || command -v chromium-browser || true)"
fi
if [ -z "$CHROME_PATH" ]; then
  if command -v apt-get >/dev/null; then
    echo "== installing Debian's chromium (set CHROME_PATH to use another Chrome)"
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
    CHROME_PATH="$(command -v chromium)"
  else
    echo "no Chromium found: install one and set CHROME_PATH to its executable" >&2
    exit 1
  fi
fi
# test_link_standin.py reads CHROMIUM.
export CHROME_PATH CHROMIUM="$CHROME_PATH"
echo "== browser: $CHROME_PATH"

if ! "$VENV_BIN/python" -c 'import playwright.sync_api, pytest' 2>/dev/null; then
  "$VENV_BIN/pip" install --quiet -r tests/browser/requirements.txt
fi

RUN_DIR="$ROOT/target/browser/stack"
mkdir -p "$RUN_DIR"
# Always the emulator: the cases need its Sandbox rules, whatever Plaid credentials are around.
unset PLAID_CLIENT_ID PLAID_SECRET PLAID_BASE_URL IDV_TEMPLATE_ID IDV_TEMPLATE_IDS
export TABLE_NAME="idv-browser-$$" PLAID_SECRET_ID="plaid/idv-browser-$$"
APP_PORT="$(free_port)"
LAMBDA_PORT="$(free_port)"

build_stack
# Under `make test` moto is already up; alone, start our own.
[ -n "${AWS_ENDPOINT_URL:-}" ] || start_moto
start_plaid "$RUN_DIR" "http://127.0.0.1:$APP_PORT/webhooks/plaid"
setup_local_aws
echo "== functions under cargo lambda watch on $LAMBDA_PORT (logs: $RUN_DIR/functions.log)"
start_functions "$RUN_DIR" "$LAMBDA_PORT"
start_front "$RUN_DIR" "$APP_PORT" "$LAMBDA_PORT"
echo "== demo app on $FRONT_URL, emulator on $EMULATOR_URL"

export DEMO_URL="$FRONT_URL" EMULATOR_URL IDV_LOCAL="$ROOT/target/debug/idv-local"
"$VENV_BIN/python" -m pytest tests/browser -q -p no:cacheprovider "$@"
