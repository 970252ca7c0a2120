#!/usr/bin/env bash
# Browser tests (part of `make test`): the demo app (tests/demo) on the local stack, driven by
# Playwright in a headless Chromium, plus the emulator's own Link stand-in tests. Brings up the
# same pieces as `make run` (moto, emulator, cargo lambda watch, idv-local serve) on free ports,
# runs pytest on tests/browser/, and stops everything it started. Screenshots: target/browser/.
#
# Chromium: $CHROME_PATH or $CHROMIUM (any installed Chrome or Chromium), else one on PATH or in
# /Applications; none on Debian or Ubuntu: the distribution's `chromium`, installed with apt-get
# (sudo when not root). Anywhere else it stops and says what to install. Playwright's own
# browser download is not used.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
stop_on_exit
local_aws_env

# find_chrome: the first Chrome or Chromium installed, on PATH or as a macOS app.
find_chrome() {
  local c
  for c in chromium chromium-browser google-chrome google-chrome-stable; do
    if command -v "$c" >/dev/null; then command -v "$c"; return 0; fi
  done
  for c in "/Applications/Chromium.app/Contents/MacOS/Chromium" \
           "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome"; do
    if [ -x "$c" ]; then echo "$c"; return 0; fi
  done
  return 1
}

# is_debian: Debian, Ubuntu and their derivatives, where apt-get's `chromium` is a real browser.
is_debian() {
  [ -f /etc/debian_version ] && command -v apt-get >/dev/null
}

CHROME_PATH="${CHROME_PATH:-${CHROMIUM:-}}"
[ -n "$CHROME_PATH" ] || CHROME_PATH="$(find_chrome || true)"
if [ -z "$CHROME_PATH" ] && is_debian; then
  echo "== installing the distribution's chromium with apt-get (set CHROME_PATH to use another Chrome)"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  if $sudo apt-get update -qq &&
     DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null; then
    CHROME_PATH="$(command -v chromium || true)"
  else
    echo "browser tests: apt-get could not install chromium (Ubuntu, for one, ships it as a snap)" >&2
  fi
fi
if [ -z "$CHROME_PATH" ] || [ ! -x "$CHROME_PATH" ]; then
  echo "browser tests: no Chrome or Chromium found${CHROME_PATH:+ at $CHROME_PATH}." >&2
  echo "  Install one (macOS: Google Chrome, or \`brew install --cask chromium\`; Fedora: \`dnf install chromium\`)" >&2
  echo "  and, if it is not on PATH, set CHROME_PATH to its executable." >&2
  exit 1
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
# A plain GET never re-reads Plaid during the run: a status the page shows came through the
# signed webhook, and test_demo.py counts the webhooks and Plaid reads to prove it.
export SESSION_FRESHNESS_SECONDS=86400
# cargo lambda watch needs its port named (a free one, probed); the front and the emulator
# bind port 0 themselves and say which they got.
LAMBDA_PORT="$(free_port)"

build_stack
# Under `make test` moto is already up; alone, start our own.
[ -n "${AWS_ENDPOINT_URL:-}" ] || start_moto
start_plaid "$RUN_DIR"
setup_local_aws
echo "== functions under cargo lambda watch on $LAMBDA_PORT (logs: $RUN_DIR/functions.log)"
start_functions "$RUN_DIR" "$LAMBDA_PORT"
start_front "$RUN_DIR" 0 "$LAMBDA_PORT"
# Now that the front has a port: Plaid's webhooks go to it.
curl -sf -o /dev/null -X POST "$EMULATOR_URL/emulator/webhook_url" \
  -H 'Content-Type: application/json' --data "{\"url\": \"$FRONT_URL/webhooks/plaid\"}"
echo "== demo app on $FRONT_URL, emulator on $EMULATOR_URL"

export DEMO_URL="$FRONT_URL" EMULATOR_URL IDV_LOCAL="$ROOT/target/debug/idv-local"
"$VENV_BIN/python" -m pytest tests/browser -q -p no:cacheprovider "$@"
