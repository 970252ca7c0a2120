#!/usr/bin/env bash
# The typed client of tests/demo/client/: TypeScript types generated from shared/openapi.yaml by
# openapi-typescript, and client.js compiled from client.ts by tsc (both pinned in its
# package-lock.json, installed with `npm ci`). `make client` writes them in place; `--check`
# (part of `make test`) writes them to a temporary folder, fails when the committed files differ
# (shared/openapi.yaml or client.ts changed without `make client`), and runs the client's tests.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
DIR=tests/demo/client

command -v npm >/dev/null || { echo "client: npm (Node 20 or newer) is needed" >&2; exit 1; }
if [ ! -x "$DIR/node_modules/.bin/openapi-typescript" ] || [ ! -x "$DIR/node_modules/.bin/tsc" ]; then
  (cd "$DIR" && npm ci --no-audit --no-fund --loglevel=error)
fi
BIN="$ROOT/$DIR/node_modules/.bin"

# generate OUT: api.d.ts and client.js for the current OpenAPI file and client.ts, into OUT.
generate() {
  local out="$1"
  "$BIN/openapi-typescript" shared/openapi.yaml -o "$out/api.d.ts" --silent
  if [ "$out" != "$DIR" ]; then
    cp "$DIR/client.ts" "$DIR/tsconfig.json" "$out/"
  fi
  "$BIN/tsc" -p "$out/tsconfig.json"
}

if [ "${1:-}" = "--check" ]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  generate "$tmp"
  stale=0
  for f in api.d.ts client.js; do
    if ! diff -u "$DIR/$f" "$tmp/$f" >"$tmp/$f.diff"; then
      echo "client: $DIR/$f is stale (run \`make client\` and commit it):" >&2
      head -n 40 "$tmp/$f.diff" >&2
      stale=1
    fi
  done
  [ "$stale" = 0 ] || exit 1
  echo "client: $DIR/api.d.ts and client.js are current"
  node --test "$DIR/client.test.mjs"
else
  generate "$DIR"
  echo "client: wrote $DIR/api.d.ts and $DIR/client.js"
fi
