#!/usr/bin/env bash
# The emulator judged by Plaid's own generated Python client, at the spec version we pin and at
# the newest we know of: each plaid-python in its own venv (target/plaid-python-<version>/)
# drives a whole flow against the emulator's binary (flow.py) with strict response typing.
# Needs only python3 (with venv), pip's registry and cargo; no team kit.
#
#   tests/plaid-emulator/contract/run.sh                     # plaid-python 40.0.0 and 46.0.0
#   PLAID_PYTHON_VERSIONS="46.0.0" tests/plaid-emulator/contract/run.sh
#   PLAID_PYTHON_VERSIONS=latest tests/plaid-emulator/contract/run.sh   # `make plaid-drift`
#   EMULATOR_BIN=/path/to/plaid-emulator tests/plaid-emulator/contract/run.sh
#
# Closing line: `emulator client contract: N passed, M failed`; exit 1 on any failure.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
versions="${PLAID_PYTHON_VERSIONS:-40.0.0 46.0.0}"
python="${PYTHON:-python3}"
bin="${EMULATOR_BIN:-}"
if [ -z "$bin" ]; then
  (cd "$root" && cargo build -q -p plaid-emulator)
  bin="$target/debug/plaid-emulator"
fi
fixtures="$root/shared/tests/fixtures/plaid"

passed=0
failed=0
for v in $versions; do
  venv="$target/plaid-python-$v"
  if [ "$v" = latest ]; then
    # Always the newest published plaid-python.
    [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --upgrade plaid-python
  elif ! "$venv/bin/python" -c "import plaid, sys; sys.exit(plaid.__version__ != '$v')" 2>/dev/null; then
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "plaid-python==$v"
  fi
  args=(--bin "$bin")
  # The 1.778.0-shaped session every client must read; the 1.697.4 example only the older ones.
  [ -f "$fixtures/identity_verification_get_response_1.778.0.json" ] &&
    args+=(--fixture "$fixtures/identity_verification_get_response_1.778.0.json")
  log="$(mktemp)"
  status=0
  "$venv/bin/python" "$here/flow.py" "${args[@]}" | tee "$log" | grep -v '^ok ' || status=$?
  line="$(grep -E '^plaid-python .*: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -1 || true)"
  rm -f "$log"
  if [ -z "$line" ]; then
    echo "plaid-python $v: the flow did not finish (exit $status)"
    failed=$((failed + 1))
    continue
  fi
  p="$(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed/\1/' <<<"$line")"
  f="$(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed/\2/' <<<"$line")"
  passed=$((passed + p))
  failed=$((failed + f))
done
echo "emulator client contract: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
