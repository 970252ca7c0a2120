#!/usr/bin/env bash
# `make deny` (part of `make lint`): cargo-deny with deny.toml over the workspace: licences,
# duplicate versions and bans, sources; and RustSec advisories when their database can be
# fetched. Where it cannot (a machine that reaches crates.io and nothing else), advisories are
# skipped with a note saying so; REQUIRE_ADVISORIES=1 makes that an error instead.
#
# cargo-deny is installed from crates.io, pinned, once per machine: `cargo install` compiles it
# (about 4 minutes of CPU, measured: 4m05s user; an hour of wall clock on a 2-core machine
# shared with six builds), so it
# goes outside the clone (a CI run is a fresh clone, and `cargo clean` would drop it) and is
# reused by every later run. CARGO_DENY_ROOT picks another place.
set -euo pipefail
cd "$(dirname "$0")/../.."

CARGO_DENY_VERSION=0.20.2
root="${CARGO_DENY_ROOT:-${XDG_CACHE_HOME:-${HOME:-$PWD/target}/.cache}/plaid-idv/cargo-deny-$CARGO_DENY_VERSION}"
deny="$root/bin/cargo-deny"

if [ ! -x "$deny" ]; then
  echo "deny: installing cargo-deny $CARGO_DENY_VERSION into $root (once per machine, a few minutes)"
  cargo install --locked --quiet cargo-deny --version "$CARGO_DENY_VERSION" --root "$root"
fi

# The advisory database is a git repository on a host other than crates.io: try to fetch it,
# briefly. Unreachable (no route, no DNS) fails in a second or two; the timeout bounds a
# network that drops packets instead.
checks=(licenses bans sources)
fetch_log="$(mktemp)"
trap 'rm -f "$fetch_log"' EXIT
if timeout "${DENY_FETCH_TIMEOUT:-30}" "$deny" fetch db >"$fetch_log" 2>&1; then
  checks=(advisories "${checks[@]}")
else
  if [ "${REQUIRE_ADVISORIES:-0}" = 1 ]; then
    cat "$fetch_log" >&2
    echo "deny: the advisory database could not be fetched and REQUIRE_ADVISORIES=1" >&2
    exit 1
  fi
  echo "deny: NOTE: advisories NOT checked: the RustSec advisory database could not be fetched" \
    "from this machine (it reaches crates.io only). Licences, bans and sources are checked." \
    "Run \`make deny\` where the database can be reached to check advisories too."
fi

"$deny" --locked check --show-stats "${checks[@]}"
