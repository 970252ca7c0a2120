#!/usr/bin/env bash
# `make bench`: cold start, latency, memory and size of the functions, side by side with the same
# create-session flow written the usual Python way, all measured in this run on this machine.
# Writes tests/bench/README.md. Not part of `make test`: timings are reported, never asserted.
#
# Knobs: BENCH_COLD_STARTS (20), BENCH_WARM (200), BENCH_LAMBDA_TARGET_DIR (where the arm64
# `cargo lambda build` goes; default: the normal target dir), BENCH_SKIP_ARM64=1,
# BENCH_SKIP_VERIFY=1.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
OUT="$TARGET/bench"
BENCH_VENV="$TARGET/bench-venv"
LAMBDA_TARGET="${BENCH_LAMBDA_TARGET_DIR:-$TARGET}"
COLD="${BENCH_COLD_STARTS:-20}"
WARM="${BENCH_WARM:-200}"
FUNCTIONS=(create-session link-token get-session webhook reconcile publish-events)
mkdir -p "$OUT"
rm -f "$OUT"/*.log "$OUT/results.json" "$OUT/sizes.tsv" "$OUT/verify.json"

echo "== baseline venv ($BENCH_VENV)"
if [ ! -f "$BENCH_VENV/.installed" ] || [ tests/bench/requirements.txt -nt "$BENCH_VENV/.installed" ]; then
  python3 -m venv "$BENCH_VENV"
  "$BENCH_VENV/bin/pip" install --quiet -r tests/bench/requirements.txt
  touch "$BENCH_VENV/.installed"
fi

echo "== release builds for the host (workspace [profile.release])"
# Separate invocations: building the test kit alongside would unify dependency features into the
# functions and change what is measured.
cargo build --release -p create-session -p get-session -p link-token -p publish-events
cargo build --release -p testkit --bin lambda-bench
# The floor for init (tests/bench/hello), with only its own dependencies' features.
cargo build --release -p bench-hello

echo "== lambda-bench: $COLD cold starts and $WARM warm invocations per function"
"$TARGET/release/lambda-bench" \
  --bin-dir "$TARGET/release" \
  --python "$BENCH_VENV/bin/python" \
  --python-dir tests/bench/python \
  --cold-starts "$COLD" --warm "$WARM" \
  --out "$OUT/results.json" --log-dir "$OUT" \
  --init-experiments --trace-init "$OUT/trace" --stand-ins

if [ "${BENCH_SKIP_ARM64:-}" != 1 ]; then
  echo "== cargo lambda build --release --arm64 --output-format zip"
  pkgs=()
  for f in "${FUNCTIONS[@]}"; do pkgs+=(-p "$f"); done
  CARGO_TARGET_DIR="$LAMBDA_TARGET" cargo lambda build --release --arm64 --output-format zip "${pkgs[@]}"
  : >"$OUT/sizes.tsv"
  for f in "${FUNCTIONS[@]}"; do
    zip="$LAMBDA_TARGET/lambda/$f/bootstrap.zip"
    # The zip is what gets deployed (the loose bootstrap next to it may be stale): measure the
    # bootstrap inside it.
    boot=$(unzip -l "$zip" | awk '$4 == "bootstrap" {print $1}')
    printf '%s\t%s\t%s\n' "$f" "$boot" "$(wc -c <"$zip" | tr -d ' ')" >>"$OUT/sizes.tsv"
  done
fi

if [ "${BENCH_SKIP_VERIFY:-}" != 1 ] && [ -f shared/benches/verify.rs ]; then
  echo "== webhook verification (Criterion)"
  cargo bench -p shared --bench verify -- --warm-up-time 1 --measurement-time 3
  est=$(find "$TARGET/criterion" -path '*verify_cached_key*/new/estimates.json' | head -1)
  [ -n "$est" ] && cp "$est" "$OUT/verify.json"
elif [ ! -f shared/benches/verify.rs ]; then
  echo "== webhook verification: shared/benches/verify.rs is absent, not measured"
fi

echo "== tests/bench/README.md"
python3 tests/bench/report.py --out-dir "$OUT" --cold "$COLD" --warm "$WARM" >tests/bench/README.md
sed -n '/^## Results/,/^## How/p' tests/bench/README.md
