#!/usr/bin/env bash
# `make contract`: our Plaid client's requests and the emulator's answers, judged by Plaid's own
# OpenAPI description (../shared/tools/plaid-prism). Skips, saying why, when the kit is absent.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
prism="$ROOT/../shared/tools/plaid-prism"
if [ ! -x "$prism" ] && [ ! -f "$prism" ]; then
  echo "contract: SKIPPED: $prism not found (the team kit ../shared is not beside this checkout)"
  exit 0
fi
status=0
for s in client-contract.sh emulator-contract.sh; do
  if [ -f "tests/scripts/$s" ]; then
    echo "== contract: $s"
    bash "tests/scripts/$s" || status=1
  fi
done
exit $status
