#!/usr/bin/env bash
# `make help-check` (part of `make lint`): every target the Makefiles declare, in a `.PHONY` line
# or as a rule of its own, has a line in `make help`, i.e. a `## ` description on its rule.
# Lists the ones that do not and fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
makefiles=(Makefile infra/infra.mk)

declared="$(
  {
    sed -n 's/^\.PHONY:[[:space:]]*//p' "${makefiles[@]}" | tr -s '[:space:]' '\n'
    # rules named like targets (lower case), not variable assignments (`:=`) nor file rules
    sed -nE 's/^([a-z][a-z0-9-]*):([^=].*)?$/\1/p' "${makefiles[@]}"
  } | sed '/^$/d' | sort -u
)"
listed="$(make --no-print-directory -s help | awk '$1 == "make" { print $2 }' | sort -u)"
missing="$(comm -23 <(printf '%s\n' "$declared") <(printf '%s\n' "$listed"))"
if [ -n "$missing" ]; then
  echo "help-check: these targets have no line in \`make help\` (add \`## what it does\` to the rule):" >&2
  while IFS= read -r t; do echo "  $t"; done <<<"$missing" >&2
  exit 1
fi
echo "help-check: all $(printf '%s\n' "$declared" | wc -l | tr -d ' ') targets are in \`make help\`"
