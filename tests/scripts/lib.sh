# Shared helpers for the scripts behind `make test`, `make run` and `make contract`.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV_BIN="${VENV_BIN:-$ROOT/.venv/bin}"
export PATH="$VENV_BIN:$PATH"

# Local AWS: fake credentials and a region for moto; nothing here can reach real AWS.
local_aws_env() {
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_SESSION_TOKEN=
  export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
  export AWS_EC2_METADATA_DISABLED=true SAM_CLI_TELEMETRY=0
  unset AWS_PROFILE AWS_SESSION_TOKEN
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_http URL SECONDS: poll until URL answers (any HTTP status).
wait_http() {
  local url="$1" secs="${2:-30}" i
  for ((i = 0; i < secs * 10; i++)); do
    if curl -s -o /dev/null -m 2 "$url"; then return 0; fi
    sleep 0.1
  done
  echo "timed out waiting for $url" >&2
  return 1
}

PIDS=()

# spawn CMD [ARG...]: CMD in the background in a process group of its own, whose id is CMD's pid,
# added to PIDS. Job control is on for this one `&` only: bash's portable way to a new group,
# where setsid(1) is Linux-only (macOS has none). A group lets cleanup stop CMD's children too
# (cargo lambda watch's functions, Prism's node under npm). Stdin is /dev/null: a background
# group that read the terminal would be stopped (SIGTTIN). Redirect the call to redirect CMD.
spawn() {
  set -m
  "$@" </dev/null &
  PIDS+=("$!")
  set +m
}

# descendants PID...: every process below these, by parent pid. Some leave our groups:
# cargo lambda watch starts each function in a session of its own.
descendants() {
  ps -A -o pid= -o ppid= | awk -v roots="$*" '
    BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) seen[r[i]] = 1 }
    { pid[NR] = $1; parent[NR] = $2 }
    END {
      do {
        added = 0
        for (i = 1; i <= NR; i++)
          if (!(pid[i] in seen) && (parent[i] in seen)) { seen[pid[i]] = 1; added = 1; print pid[i] }
      } while (added)
    }'
}

# running GROUPS PIDS: the ids of the groups (space-separated) and of the processes in PIDS that
# still run. Zombies, left for init to reap, do not.
running() {
  ps -A -o pid= -o pgid= -o stat= | awk -v groups="$1" -v pids="$2" '
    BEGIN {
      n = split(groups, g, " "); for (i = 1; i <= n; i++) group[g[i]] = 1
      n = split(pids, p, " "); for (i = 1; i <= n; i++) proc[p[i]] = 1
    }
    $3 !~ /^Z/ && ($2 in group) { print $2 }
    $3 !~ /^Z/ && ($1 in proc) { print $1 }' | sort -u
}

# cleanup: SIGTERM to every group spawn started and to every process below them, SIGKILL to any
# still running 10 s later.
cleanup() {
  local groups="${PIDS[*]:-}" procs pid i left
  [ -n "$groups" ] || return 0
  procs="$(descendants "$groups" | tr '\n' ' ')"
  for pid in $groups; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for pid in $procs; do kill -TERM "$pid" 2>/dev/null || true; done
  for ((i = 0; i < 100; i++)); do
    left="$(running "$groups" "$procs")"
    [ -n "$left" ] || break
    sleep 0.1
  done
  left="$(running "$groups" "$procs")"
  if [ -n "$left" ]; then
    echo "cleanup: still running 10 s after SIGTERM, killing: ${left//$'\n'/ }" >&2
    for pid in $left; do kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; done
  fi
  for pid in $groups; do wait "$pid" 2>/dev/null || true; done
  PIDS=()
}

# stop_on_exit: cleanup whenever the script ends; Ctrl-C and SIGTERM end it (130, 143), so a
# signal never lets it go on to its next step.
stop_on_exit() {
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# start_moto: moto on a free loopback port, handling one request at a time so that conditional
# writes are atomic as in DynamoDB (tests/scripts/moto_serialized.py, which refuses to run if it
# cannot serialize); exports AWS_ENDPOINT_URL. Port 0: moto binds a free port itself and names it.
start_moto() {
  local log="$ROOT/target/moto.log" out="$ROOT/target/moto.out" line
  mkdir -p "$ROOT/target"
  : >"$out"
  spawn "$VENV_BIN/python" "$ROOT/tests/scripts/moto_serialized.py" -H 127.0.0.1 -p 0 >"$out" 2>"$log"
  line="$(first_line "$out" 30)"
  case "$line" in
    "serialized moto listening on "*) export AWS_ENDPOINT_URL="${line#serialized moto listening on }" ;;
    *) echo "moto did not start with serialized requests; see $log:" >&2; tail -n 5 "$log" >&2; return 1 ;;
  esac
  wait_http "$AWS_ENDPOINT_URL/moto-api/" 30
  echo "moto (DynamoDB, Secrets Manager) on $AWS_ENDPOINT_URL"
}

# ---- contract checks against Plaid's spec (the team kit's plaid-prism)

# The kit's plaid-prism: $PLAID_PRISM, else ../shared/tools/plaid-prism beside this checkout.
PLAID_PRISM="${PLAID_PRISM:-$ROOT/../shared/tools/plaid-prism}"

# contract_skip WHO WHY: a contract check cannot run here. Says so and exits 0, unless
# REQUIRE_CONTRACT=1 (CI sets it): then a check that did not run is a failure, exit 1.
contract_skip() {
  if [ "${REQUIRE_CONTRACT:-}" = 1 ]; then
    echo "$1: FAILED: $2; REQUIRE_CONTRACT=1 (CI) allows no skipped contract check" >&2
    exit 1
  fi
  echo "$1: SKIPPED: $2 (set REQUIRE_CONTRACT=1 to make this an error)"
  exit 0
}

# contract_prerequisites WHO: the kit and the tools the contract checks run on (Prism is a
# Node program, installed from npm on first use), or contract_skip naming what is missing.
contract_prerequisites() {
  local who="$1" tool
  [ -f "$PLAID_PRISM" ] ||
    contract_skip "$who" "$PLAID_PRISM not found (the team kit ../shared is not beside this checkout; set PLAID_PRISM to its tools/plaid-prism)"
  for tool in node npm curl jq python3; do
    command -v "$tool" >/dev/null || contract_skip "$who" "$tool is not installed"
  done
}

# ---- the local stack's pieces, shared by `make run` (run.sh) and the browser tests (browser.sh)

# build_stack: the Plaid emulator, the test kit's binaries and the five functions, debug profile.
build_stack() {
  cargo build -q -p plaid-emulator -p testkit --bins
  cargo build -q -p create-session -p link-token -p get-session -p webhook -p reconcile
}

# first_line FILE SECONDS: wait for the first line a process writes to FILE, print it.
first_line() {
  local file="$1" secs="${2:-10}" line="" i
  for ((i = 0; i < secs * 10; i++)); do
    line="$(head -n1 "$file" 2>/dev/null || true)"
    [ -n "$line" ] && break
    sleep 0.1
  done
  printf '%s\n' "$line"
}

# start_plaid RUN_DIR [WEBHOOK_URL]: the Plaid emulator on a free port, firing webhooks at
# WEBHOOK_URL (or nowhere until one is set with POST /emulator/webhook_url); or real Plaid when PLAID_CLIENT_ID and PLAID_SECRET are set (then IDV_TEMPLATE_ID
# is required). Sets PLAID_MODE (emulator | plaid), EMULATOR_URL, LINK_SCRIPT_URL, LOCAL_CLIENT_ID,
# LOCAL_SECRET, and exports PLAID_ENV, PLAID_BASE_URL (emulator only) and IDV_TEMPLATE_ID.
start_plaid() {
  local run_dir="$1" webhook_url="${2:-}" line
  if [ -n "${PLAID_CLIENT_ID:-}" ] && [ -n "${PLAID_SECRET:-}" ]; then
    PLAID_MODE=plaid
    : "${IDV_TEMPLATE_ID:?with real Plaid credentials, set IDV_TEMPLATE_ID to an IDV template of that environment}"
    export PLAID_ENV="${PLAID_ENV:-sandbox}"
    unset PLAID_BASE_URL
    EMULATOR_URL=""
    LINK_SCRIPT_URL="https://cdn.plaid.com/link/v2/stable/link-initialize.js"
    LOCAL_CLIENT_ID="$PLAID_CLIENT_ID" LOCAL_SECRET="$PLAID_SECRET"
    return 0
  fi
  PLAID_MODE=emulator
  export IDV_TEMPLATE_ID="${IDV_TEMPLATE_ID:-idvtmp_emulator_default}"
  export PLAID_ENV=sandbox
  LOCAL_CLIENT_ID=emulator-client-id LOCAL_SECRET=emulator-secret
  spawn env PLAID_CLIENT_ID="$LOCAL_CLIENT_ID" PLAID_SECRET="$LOCAL_SECRET" \
    "$ROOT/target/debug/plaid-emulator" --port 0 ${webhook_url:+--webhook-url "$webhook_url"} \
    >"$run_dir/emulator.out" 2>"$run_dir/emulator.log"
  line="$(first_line "$run_dir/emulator.out" 10)"
  case "$line" in
    "listening on "*) EMULATOR_URL="${line#listening on }" ;;
    *) echo "the emulator did not start; see $run_dir/emulator.log" >&2; return 1 ;;
  esac
  export PLAID_BASE_URL="$EMULATOR_URL"
  LINK_SCRIPT_URL="$EMULATOR_URL/link/v2/stable/link-initialize.js"
}

# setup_local_aws: the sessions table and the Plaid secret in moto (TABLE_NAME, PLAID_SECRET_ID),
# then drops Plaid's credentials from the environment: the functions read them from the secret
# only, as deployed.
setup_local_aws() {
  "$ROOT/target/debug/idv-local" setup --table "$TABLE_NAME" --secret-id "$PLAID_SECRET_ID" \
    --client-id "$LOCAL_CLIENT_ID" --secret "$LOCAL_SECRET"
  unset PLAID_CLIENT_ID PLAID_SECRET
}

# start_functions RUN_DIR PORT: the five functions under `cargo lambda watch` on PORT, routed by
# path and method (Cargo.toml, workspace.metadata.lambda.watch.router). Local identity only:
# without a JWT authorizer the caller names itself in `x-local-user`, a switch the functions
# refuse unless DynamoDB is on loopback. Returns once each function has answered once.
start_functions() {
  local run_dir="$1" port="$2" base status
  export IDV_LOCAL_IDENTITY=insecure-local-only
  export RUST_LOG="${RUST_LOG:-info}"
  # From the workspace root, where cargo lambda watch finds the functions and its router.
  cd "$ROOT" || return
  spawn cargo lambda watch -q -A 127.0.0.1 -P "$port" >"$run_dir/functions.log" 2>&1
  base="http://127.0.0.1:$port"
  wait_http "$base/" 60
  # The first call to each function compiles and starts it: warm each one up with a call it
  # refuses (no caller, no signature: 401, nothing written), with a long timeout (short ones
  # leave orphan invocations behind, see tooling notes).
  curl -s -o /dev/null -m 300 -X POST "$base/sessions" || true
  curl -s -o /dev/null -m 300 "$base/sessions" || true
  curl -s -o /dev/null -m 300 -X POST "$base/sessions/idv_warmup/link-token" || true
  curl -s -o /dev/null -m 300 -X POST "$base/webhooks/plaid" -H 'content-type: application/json' -d '{}' || true
  status="$(curl -s -o /dev/null -w '%{http_code}' -m 60 -H 'x-local-user: probe' "$base/sessions")"
  if [ "$status" != 200 ]; then
    echo "GET /sessions answered $status; see $run_dir/functions.log" >&2
    return 1
  fi
}

# start_front RUN_DIR PORT FUNCTIONS_PORT: `idv-local serve`, the one origin a person opens: the
# demo app at / and the API's routes forwarded to cargo lambda watch. Sets FRONT_URL.
start_front() {
  local run_dir="$1" port="$2" functions_port="$3" line
  spawn "$ROOT/target/debug/idv-local" serve --port "$port" \
    --functions "http://127.0.0.1:$functions_port" --demo-dir "$ROOT/tests/demo" \
    --link-script "$LINK_SCRIPT_URL" --plaid-mode "$PLAID_MODE" \
    >"$run_dir/front.out" 2>"$run_dir/front.log"
  line="$(first_line "$run_dir/front.out" 10)"
  # shellcheck disable=SC2034 # FRONT_URL is for the caller
  case "$line" in
    "listening on "*) FRONT_URL="${line#listening on }" ;;
    *) echo "idv-local serve did not start; see $run_dir/front.log" >&2; return 1 ;;
  esac
}
